"""Routes: anomaly rules' settings per region, the alert queue, decisions, recoveries
(docs/anomalies.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from services.common.auth import Principal, Role, bearer_credential, require
from services.common.db import DatabaseDep, SessionDep
from services.common.errors import NotFound
from services.voucher.api.deps import DirectoryDep
from services.voucher.clients import ProviderCredit
from services.voucher.repository import recovery as recovery_repo
from services.voucher.schemas.alerts import (
    AlertDecision,
    AlertList,
    AlertRead,
    RecoveryRead,
    RuleSettingRead,
    RuleSettingUpdate,
    RuleVersionRead,
)
from services.voucher.service import alerts as service
from services.voucher.service.recovery import recovery_read

router = APIRouter(tags=["anomalies"])
READERS = (Role.civil_affairs, Role.auditor)
AlertID = Annotated[uuid.UUID, Path(description="The alert's id")]
Region = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


@router.get("/anomaly-rules", response_model=list[RuleSettingRead])
async def rule_settings(
    session: SessionDep,
    region_code: Annotated[str, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")],
    principal: Principal = require(*READERS),
) -> list[RuleSettingRead]:
    """Every anomaly rule as it applies in the region: thresholds, whether it is on, and
    which region's settings (or the defaults) are in force there."""
    return await service.rule_settings(session, principal, region_code)


@router.put("/anomaly-rules/{rule_code}", response_model=RuleSettingRead)
async def update_rule(
    rule_code: str,
    body: RuleSettingUpdate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> RuleSettingRead:
    """Change a rule's thresholds for a region the officer covers: a new version, with the
    old and new settings, who, when and why. 409 RULE_VERSION_CONFLICT when
    `expected_version` is not the region's current one."""
    return await service.update_rule(session, principal, rule_code, body)


@router.get("/anomaly-rules/versions", response_model=list[RuleVersionRead])
async def rule_history(
    session: SessionDep,
    region_code: Annotated[str, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")],
    rule_code: str | None = None,
    principal: Principal = require(*READERS),
) -> list[RuleVersionRead]:
    """Every change of the rules' settings made for the region (oldest first)."""
    return await service.rule_history(session, principal, rule_code, region_code)


@router.get("/alerts", response_model=AlertList)
async def list_alerts(
    session: SessionDep,
    region_code: Region = None,
    status: Literal["open", "dismissed", "confirmed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    principal: Principal = require(*READERS),
) -> AlertList:
    """The alerts of a region (default: the caller's), newest first, with their evidence."""
    return AlertList(
        items=await service.list_alerts(session, principal, region_code, status, limit)
    )


@router.get("/alerts/{alert_id}", response_model=AlertRead)
async def get_alert(
    alert_id: AlertID, session: SessionDep, principal: Principal = require(*READERS)
) -> AlertRead:
    """One alert: evidence, decision, credit event and the recoveries it started. Outside
    the caller's region: 404 ALERT_NOT_FOUND, as for an unknown id."""
    return await service.get_alert(session, principal, alert_id)


@router.post("/alerts/{alert_id}/decision", response_model=AlertRead)
async def decide(
    alert_id: AlertID,
    body: AlertDecision,
    request: Request,
    db: DatabaseDep,
    principal: Principal = require(Role.civil_affairs),
) -> AlertRead:
    """Dismiss (with the reason) or confirm an alert of the officer's region. Confirming
    starts the recovery of the redemptions paid wrongly and records a credit event on the
    provider(s); sending the same decision again changes nothing (and retries a credit event
    the provider service did not take)."""
    credit: ProviderCredit = request.app.state.provider_credit
    return await service.decide(
        db,
        principal,
        alert_id,
        body,
        credit=credit,
        bearer=bearer_credential(request),
        credit_points=request.app.state.settings.alert_credit_points,
    )


@router.get("/recoveries", response_model=list[RecoveryRead])
async def list_recoveries(
    session: SessionDep,
    provider_id: str,
    directory: DirectoryDep,
    principal: Principal = require(Role.provider_admin, Role.civil_affairs, Role.auditor),
) -> list[RecoveryRead]:
    """A provider's recoveries (its admin; officers and auditors whose region covers the
    provider's, as the directory says)."""
    if principal.role == Role.provider_admin:
        principal.ensure_provider(provider_id)
    else:
        entry = directory.provider(provider_id)
        if entry is None or not principal.covers_region(entry.region_code):
            raise NotFound("No such provider.", field="provider_id")
    rows = await recovery_repo.list_recoveries(session, provider_id=provider_id)
    return [recovery_read(r) for r in rows]
