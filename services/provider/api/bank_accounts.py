"""Settlement bank account changes: the provider's list, the officers' queue, decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, INSIDERS, ChangeID, ProviderID
from services.provider.service import bank_account

router = APIRouter()

_DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE, MAKER_CHECKER_VIOLATION"},
    404: {"description": "PROVIDER_NOT_FOUND, BANK_CHANGE_NOT_FOUND"},
    409: {"description": "BANK_CHANGE_NOT_PENDING, PROVIDER_REVOKED"},
}


@router.get(
    "/providers/{provider_id}/bank-account-changes",
    response_model=schemas.BankAccountChangePage,
    tags=["providers"],
    responses=ERRORS,
)
async def bank_account_changes(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*INSIDERS)
) -> schemas.BankAccountChangePage:
    """The settlement account changes asked for this provider, newest first, with their
    decision (pending, approved, rejected, superseded), who asked and who decided; account
    numbers masked. For its own people, officers and finance of its region, auditors."""
    return schemas.BankAccountChangePage(
        items=await bank_account.list_changes(session, principal, provider_id)
    )


@router.get(
    "/bank-account-changes",
    response_model=schemas.PendingBankAccountChangePage,
    tags=["workflow"],
    responses=ERRORS,
)
async def pending_bank_account_changes(
    session: SessionDep,
    region_code: Annotated[str | None, Query(description="Default: your region.")] = None,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor),
) -> schemas.PendingBankAccountChangePage:
    """Settlement account changes waiting for an officer's decision within a region (yours
    by default, or one inside it), oldest request first, with the provider and the account
    it is paid to now; account numbers masked. Officers and finance of the region,
    auditors."""
    return schemas.PendingBankAccountChangePage(
        items=await bank_account.pending_in_region(session, principal, region_code)
    )


@router.post(
    "/providers/{provider_id}/bank-account-changes/{change_id}/approve",
    response_model=schemas.BankAccountChangeRead,
    tags=["workflow"],
    responses=_DECISION_ERRORS,
)
async def approve_bank_account_change(
    provider_id: ProviderID,
    change_id: ChangeID,
    session: SessionDep,
    body: schemas.ChangeDecision | None = None,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.BankAccountChangeRead:
    """Approve a pending settlement account change (a civil-affairs officer of the
    provider's region, not the person who asked): payments go to it from now on."""
    return await bank_account.decide(
        session,
        principal,
        provider_id,
        change_id,
        approve=True,
        reason=body.reason if body else None,
    )


@router.post(
    "/providers/{provider_id}/bank-account-changes/{change_id}/reject",
    response_model=schemas.BankAccountChangeRead,
    tags=["workflow"],
    responses=_DECISION_ERRORS,
)
async def reject_bank_account_change(
    provider_id: ProviderID,
    change_id: ChangeID,
    body: schemas.ChangeRejection,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.BankAccountChangeRead:
    """Reject a pending settlement account change, with the reason (a civil-affairs officer
    of the provider's region, not the person who asked); the approved account stays."""
    return await bank_account.decide(
        session, principal, provider_id, change_id, approve=False, reason=body.reason
    )
