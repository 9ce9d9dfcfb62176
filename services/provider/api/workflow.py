"""The review and status workflow: approve, ask for changes, refuse, resubmit, suspend, revoke,
and the history (the steps and who takes them: service/review_rules.py)."""

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
    """Approve an application (applied) or lift a suspension (officer of the provider's
    region)."""
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
    """Revoke an approved or suspended provider for good (officer of its region). An
    application is refused instead (`/refuse`)."""
    return await workflow.change_status(session, principal, provider_id, "revoke", body.reason)


@router.post(
    "/providers/{provider_id}/request-changes",
    response_model=schemas.StatusChanged,
    responses=_STATUS_ERRORS,
)
async def request_changes(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.StatusChanged:
    """Send an application back for changes, saying what to change (officer of its region):
    `changes_requested`. The provider reads the reason (`status_reason` of its profile, its
    history), edits the application and resubmits it."""
    return await workflow.change_status(
        session, principal, provider_id, "request-changes", body.reason
    )


@router.post(
    "/providers/{provider_id}/refuse",
    response_model=schemas.StatusChanged,
    responses=_STATUS_ERRORS,
)
async def refuse(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.StatusChanged:
    """Refuse an application (applied or waiting for changes), with the reason (officer of
    its region): `refused`, final; nothing about the provider changes after it."""
    return await workflow.change_status(session, principal, provider_id, "refuse", body.reason)


@router.post(
    "/providers/{provider_id}/resubmit",
    response_model=schemas.StatusChanged,
    responses=_STATUS_ERRORS,
)
async def resubmit(
    provider_id: ProviderID,
    body: schemas.ResubmitCreate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.civil_affairs),
) -> schemas.StatusChanged:
    """Resubmit an application an officer sent back for changes (the provider's admin, or
    an officer of its region on its behalf): `applied` again, waiting for review. The note
    (optional) says what was changed."""
    return await workflow.change_status(session, principal, provider_id, "resubmit", body.reason)


@router.get(
    "/providers/{provider_id}/history", response_model=schemas.HistoryPage, responses=ERRORS
)
async def history(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*INSIDERS)
) -> schemas.HistoryPage:
    """Every status the provider had, oldest first: from, to, reason, who, when, and whether
    the change was automatic (a credit threshold)."""
    return schemas.HistoryPage(items=await workflow.history(session, principal, provider_id))
