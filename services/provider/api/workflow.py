"""The status workflow: approve, suspend, revoke, and the history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, INSIDERS, ProviderID
from services.provider.service import workflow

router = APIRouter(tags=["workflow"])

_STATUS_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"description": "PROVIDER_NOT_FOUND"},
    409: {"description": "ILLEGAL_TRANSITION"},
}


@router.post(
    "/providers/{provider_id}/approve",
    response_model=schemas.StatusChanged,
    responses=_STATUS_ERRORS,
)
async def approve(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.StatusChanged:
    """Approve an application or lift a suspension (officer of the provider's region)."""
    return await workflow.change_status(session, principal, provider_id, "approve", body.reason)


@router.post(
    "/providers/{provider_id}/suspend",
    response_model=schemas.StatusChanged,
    responses=_STATUS_ERRORS,
)
async def suspend(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.StatusChanged:
    """Suspend an approved provider (officer of its region). Redemptions at it are refused
    from the voucher service's next directory poll."""
    return await workflow.change_status(session, principal, provider_id, "suspend", body.reason)


@router.post(
    "/providers/{provider_id}/revoke",
    response_model=schemas.StatusChanged,
    responses=_STATUS_ERRORS,
)
async def revoke(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.StatusChanged:
    """Revoke a provider for good, or refuse an application (officer of its region)."""
    return await workflow.change_status(session, principal, provider_id, "revoke", body.reason)


@router.get(
    "/providers/{provider_id}/history", response_model=schemas.HistoryPage, responses=ERRORS
)
async def history(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*INSIDERS)
) -> schemas.HistoryPage:
    """Every status the provider had, oldest first: from, to, reason, who, when, and whether
    the change was automatic (a credit threshold)."""
    return schemas.HistoryPage(items=await workflow.history(session, principal, provider_id))
