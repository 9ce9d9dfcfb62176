"""The provider service's fixed vocabularies: kinds, statuses, service categories, credit kinds.

They are shared by the tables (CHECK constraints), the schemas (validation) and the rules.
"""

from __future__ import annotations

from enum import StrEnum


class ProviderKind(StrEnum):
    meal_point = "meal_point"  # 老年食堂 / 助餐点
    community_embedded = "community_embedded"  # 社区嵌入式养老服务设施
    rural_station = "rural_station"  # 农村"家门口"养老服务站
    institution = "institution"  # 养老机构
    home_care = "home_care"  # 居家上门服务机构


class ProviderStatus(StrEnum):
    applied = "applied"  # 待审批: waiting for an officer's review
    changes_requested = "changes_requested"  # 待补正: the officer asked for changes (reason)
    approved = "approved"
    suspended = "suspended"
    revoked = "revoked"  # an approved provider's qualification withdrawn, final
    refused = "refused"  # 不予批准: the application refused, final


class ServiceCategory(StrEnum):
    meal = "meal"  # 助餐
    day_care = "day_care"  # 日间照料
    rehab_nursing = "rehab_nursing"  # 康复护理
    bathing = "bathing"  # 助浴
    cleaning = "cleaning"  # 助洁
    escort = "escort"  # 助行 / 陪同
    emergency_call = "emergency_call"  # 紧急呼叫
    medical_escort = "medical_escort"  # 助医 / 陪诊
    home_care_hours = "home_care_hours"  # 居家上门服务（按小时）
    institution_stay = "institution_stay"  # 机构长期入住
    respite_stay = "respite_stay"  # 机构喘息服务（短期托养）
    home_adaptation = "home_adaptation"  # 适老化改造（扶手、防滑、坡道……）


class CreditKind(StrEnum):
    warning = "warning"  # 警示
    violation = "violation"  # 违规
    sanction = "sanction"  # 处罚


class TerminalStatus(StrEnum):
    active = "active"
    revoked = "revoked"


# The workflow (docs/providers.md "Review"): an application is reviewed (applied); the officer
# approves it, asks for changes (changes_requested: the provider edits and resubmits, back to
# applied) or refuses it (refused, final); an approved provider may be suspended and approved
# again, or revoked (final). The database enforces the same table
# (migrations/sql/provider_status_guard.sql); who may take which step is in review_rules.py.
TRANSITIONS: dict[str, frozenset[str]] = {
    ProviderStatus.applied: frozenset(
        {ProviderStatus.approved, ProviderStatus.changes_requested, ProviderStatus.refused}
    ),
    ProviderStatus.changes_requested: frozenset({ProviderStatus.applied, ProviderStatus.refused}),
    ProviderStatus.approved: frozenset({ProviderStatus.suspended, ProviderStatus.revoked}),
    ProviderStatus.suspended: frozenset({ProviderStatus.approved, ProviderStatus.revoked}),
    ProviderStatus.revoked: frozenset(),
    ProviderStatus.refused: frozenset(),
}

# Statuses after which nothing about the provider changes.
FINAL_STATUSES = frozenset({ProviderStatus.revoked, ProviderStatus.refused})


def sql_in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)
