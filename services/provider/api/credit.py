"""The credit record: warnings, violations and sanctions, and the points they add up to."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, INSIDERS, ProviderID, SettingsDep
from services.provider.service import workflow

router = APIRouter(tags=["credit"])


@router.post(
    "/providers/{provider_id}/credit-events",
    status_code=201,
    response_model=schemas.CreditRecord,
    responses=ERRORS,
)
async def add_credit_event(
    provider_id: ProviderID,
    body: schemas.CreditEventCreate,
    settings: SettingsDep,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.CreditRecord:
    """Add a warning, violation or sanction to the provider's credit record (officer of its
    region). Reaching the configured threshold of points suspends an approved provider."""
    return await workflow.add_credit_event(session, principal, provider_id, body, settings)


@router.get(
    "/providers/{provider_id}/credit", response_model=schemas.CreditRecord, responses=ERRORS
)
async def credit(
    provider_id: ProviderID,
    settings: SettingsDep,
    session: SessionDep,
    principal: Principal = require(*INSIDERS),
) -> schemas.CreditRecord:
    """The provider's credit record: its points, the threshold, every event."""
    return await workflow.credit_record(session, principal, provider_id, settings)
