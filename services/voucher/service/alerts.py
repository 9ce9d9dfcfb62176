"""Officers' side of the anomaly rules: thresholds per region (versioned, audited), the alert
queue, and decisions (docs/anomalies.md).

A confirmation is two steps. First, in one transaction: the alert becomes `confirmed` with
its reason, the recoveries of the redemptions paid wrongly start (service/recovery.py; their
ledger events leave with the same commit) and the credit event is `pending`. Then the
credit event is recorded on each provider named (the provider service, with the officer's
own token) and the alert's credit becomes `recorded`. If the provider service cannot be
reached the decision and the recoveries stand; sending the same decision again records the
pending credit event (and changes nothing else).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database
from services.common.errors import InvalidInput
from services.common.regions import is_valid_code_shape, significant_prefix
from services.voucher.clients import ProviderCredit
from services.voucher.errors import (
    AlertAlreadyDecided,
    AlertNotFound,
    InvalidRegion,
    RuleVersionConflict,
    UnknownAnomalyRule,
)
from services.voucher.models import Alert
from services.voucher.repository import anomalies as repo
from services.voucher.repository import recovery as recovery_repo
from services.voucher.schemas.alerts import (
    AlertDecision,
    AlertRead,
    RuleSettingRead,
    RuleSettingUpdate,
    RuleVersionRead,
)
from services.voucher.service import anomaly_rules as rules
from services.voucher.service.recovery import recovery_read, start_recovery


def _region(code: str) -> str:
    if not is_valid_code_shape(code):
        raise InvalidRegion(field="region_code")
    return code


def _spec(rule_code: str) -> rules.RuleSpec:
    spec = rules.RULES.get(rule_code)
    if spec is None:
        raise UnknownAnomalyRule(field="rule_code")
    return spec


# --- settings ---------------------------------------------------------------------------------


async def rule_settings(
    session: AsyncSession, principal: Principal, region_code: str
) -> list[RuleSettingRead]:
    """Every rule as it applies in the region, with where its settings come from."""
    principal.ensure_region(_region(region_code))
    configured = await repo.settings(session)
    out = []
    for spec in rules.RULES.values():
        in_force = rules.setting_for(spec.code, region_code, configured)
        own = next(
            (s for s in configured if s.rule_code == spec.code and s.region_code == region_code),
            None,
        )
        out.append(
            RuleSettingRead(
                rule_code=spec.code,
                name=spec.name,
                region_code=region_code,
                source_region_code=in_force.region_code,
                version=own.version if own else 0,
                source_version=in_force.version,
                enabled=in_force.enabled,
                thresholds=dict(in_force.thresholds),
                defaults=dict(spec.defaults),
                bounds={k: [lo, hi] for k, (lo, hi) in spec.bounds.items()},
            )
        )
    return out


async def update_rule(
    session: AsyncSession, principal: Principal, rule_code: str, body: RuleSettingUpdate
) -> RuleSettingRead:
    """Set a rule's thresholds for a region (an officer whose scope covers it): version N+1
    of the region's own row, with the old and new settings, who and why. The region's
    sub-regions without their own row follow it. `expected_version` (the region's own
    version the officer edited, 0 for none) refuses a change made meanwhile (409)."""
    spec = _spec(rule_code)
    region = _region(body.region_code)
    principal.ensure_region(region)
    try:
        thresholds = rules.validate_thresholds(rule_code, body.thresholds)
    except rules.ThresholdProblem as problem:
        raise InvalidInput(str(problem), field=problem.field) from None
    current = await repo.lock_rule(session, region, rule_code)
    version = current.version if current is not None else 0
    if version != body.expected_version:
        raise RuleVersionConflict(field="expected_version", details={"version": version})
    old = rules.setting_for(rule_code, region, await repo.settings(session))
    try:
        async with session.begin_nested():
            await repo.write_rule(
                session,
                region_code=region,
                rule_code=spec.code,
                version=version + 1,
                enabled=body.enabled,
                thresholds=thresholds,
                old=old,
                who=principal.sub,
                reason=body.reason,
            )
    except IntegrityError:  # another officer wrote the same version first
        raise RuleVersionConflict(field="expected_version") from None
    settings = await rule_settings(session, principal, region)
    return next(s for s in settings if s.rule_code == rule_code)


async def rule_history(
    session: AsyncSession, principal: Principal, rule_code: str | None, region_code: str
) -> list[RuleVersionRead]:
    if rule_code is not None:
        _spec(rule_code)
    principal.ensure_region(_region(region_code))
    return [
        RuleVersionRead.model_validate(v)
        for v in await repo.rule_history(session, region_code, rule_code)
    ]


# --- alerts -----------------------------------------------------------------------------------


async def _read(session: AsyncSession, alert: Alert) -> AlertRead:
    recoveries = await recovery_repo.list_recoveries(session, alert_id=alert.id)
    return AlertRead(
        id=str(alert.id),
        rule_code=alert.rule_code,
        rule_name=rules.RULES[alert.rule_code].name if alert.rule_code in rules.RULES else "",
        region_code=alert.region_code,
        subject_kind=alert.subject_kind,
        subject_id=alert.subject_id,
        provider_ids=list(alert.provider_ids),
        facts=dict(alert.facts),
        evidence=list(alert.evidence),
        status=alert.status,
        decided_by=alert.decided_by,
        decided_at=alert.decided_at,
        decision_reason=alert.decision_reason,
        credit_state=alert.credit_state,
        created_at=alert.created_at,
        recoveries=[recovery_read(r) for r in recoveries],
    )


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    region_code: str | None,
    status: str | None,
    limit: int,
) -> list[AlertRead]:
    """Alerts of the region (default: the caller's), newest first."""
    region = _region(region_code or principal.region or "")
    principal.ensure_region(region)
    alerts = await repo.list_alerts(
        session, region_prefix=significant_prefix(region), status=status, limit=limit
    )
    return [await _read(session, a) for a in alerts]


async def _visible(
    session: AsyncSession, principal: Principal, alert_id: uuid.UUID, *, lock: bool = False
) -> Alert:
    """The alert, if the caller's region covers it; otherwise as if there were none."""
    alert = await repo.get_alert(session, alert_id, lock=lock)
    if alert is None or not principal.covers_region(alert.region_code):
        raise AlertNotFound(field="alert_id")
    return alert


async def get_alert(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> AlertRead:
    return await _read(session, await _visible(session, principal, alert_id))


async def decide(
    db: Database,
    principal: Principal,
    alert_id: uuid.UUID,
    body: AlertDecision,
    *,
    credit: ProviderCredit,
    bearer: str,
    credit_points: int,
    now: datetime | None = None,
) -> AlertRead:
    """Dismiss or confirm an open alert (module docstring). The same decision again answers
    the alert as it is (and records a credit event still pending); the other one is 409
    ALERT_ALREADY_DECIDED."""
    now = now or datetime.now(UTC)
    target = "dismissed" if body.decision == "dismiss" else "confirmed"
    async with db.unit_of_work() as session:
        alert = await _visible(session, principal, alert_id, lock=True)
        if alert.status not in ("open", target):
            raise AlertAlreadyDecided(field="decision", details={"status": alert.status})
        if alert.status == "open":
            values: dict[str, object] = {
                "status": target,
                "decided_by": principal.sub,
                "decided_at": now,
                "decision_reason": body.reason,
            }
            if target == "confirmed":
                named = [uuid.UUID(e["redemption_id"]) for e in alert.evidence]
                wanted = named
                if body.recover_redemption_ids is not None:
                    try:
                        wanted = [uuid.UUID(x) for x in body.recover_redemption_ids]
                    except ValueError:
                        raise InvalidInput(
                            "Not a redemption id.", field="recover_redemption_ids"
                        ) from None
                    if not set(wanted) <= set(named):
                        raise InvalidInput(
                            "Only redemptions the alert names can be recovered.",
                            field="recover_redemption_ids",
                        )
                await start_recovery(
                    session,
                    wanted,
                    body.reason,  # the alert is linked by recovery.alert_id
                    body.at_fault,
                    alert_id=alert.id,
                    actor=principal.sub,
                    now=now,
                )
                values["credit_state"] = "pending"
            await repo.update_alert(session, alert.id, **values)
        providers = list(alert.provider_ids)
    if target == "confirmed":
        async with db.unit_of_work() as session:
            alert = await _visible(session, principal, alert_id, lock=True)
            if alert.credit_state == "pending":
                spec = rules.RULES.get(alert.rule_code)
                reason = (
                    f"异常预警经核实（{spec.name if spec else alert.rule_code}，预警 {alert.id}）"
                )
                for provider_id in providers:
                    await credit.record(
                        provider_id,
                        kind="violation",
                        points=credit_points,
                        reason=reason,
                        source_ref=f"alert:{alert.id}",
                        bearer=bearer,
                    )
                await repo.update_alert(session, alert.id, credit_state="recorded")
    async with db.unit_of_work() as session:
        return await _read(session, await _visible(session, principal, alert_id))
