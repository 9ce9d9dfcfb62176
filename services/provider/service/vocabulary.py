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
    applied = "applied"
    approved = "approved"
    suspended = "suspended"
    revoked = "revoked"


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


# The workflow: applied -> approved -> suspended <-> approved -> revoked. An application can
# also be refused outright (applied -> revoked). The database enforces the same table.
TRANSITIONS: dict[str, frozenset[str]] = {
    ProviderStatus.applied: frozenset({ProviderStatus.approved, ProviderStatus.revoked}),
    ProviderStatus.approved: frozenset({ProviderStatus.suspended, ProviderStatus.revoked}),
    ProviderStatus.suspended: frozenset({ProviderStatus.approved, ProviderStatus.revoked}),
    ProviderStatus.revoked: frozenset(),
}

# The action named in the URL and the status it leads to.
ACTIONS: dict[str, ProviderStatus] = {
    "approve": ProviderStatus.approved,
    "suspend": ProviderStatus.suspended,
    "revoke": ProviderStatus.revoked,
}


def sql_in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)
