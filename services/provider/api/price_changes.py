"""Price list changes that raise what public money pays: the provider's list, the officers'
queue, decisions (service/price_review.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, INSIDERS, PriceChangeID, ProviderID
from services.provider.service import price_review

router = APIRouter()

_DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE, MAKER_CHECKER_VIOLATION"},
    404: {"description": "PROVIDER_NOT_FOUND, PRICE_CHANGE_NOT_FOUND"},
    409: {"description": "PRICE_CHANGE_NOT_PENDING, PROVIDER_REVOKED"},
}


@router.get(
    "/providers/{provider_id}/price-list-changes",
    response_model=schemas.PriceListChangePage,
    tags=["providers"],
    responses=ERRORS,
)
async def price_list_changes(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*INSIDERS)
) -> schemas.PriceListChangePage:
    """The price lists asked for this provider that raised what public money pays, newest
    first, with their decision (pending, approved, rejected, superseded). For its own
    people, officers and finance of its region, auditors."""
    return schemas.PriceListChangePage(
        items=await price_review.list_changes(session, principal, provider_id)
    )


@router.get(
    "/price-list-changes",
    response_model=schemas.PendingPriceListChangePage,
    tags=["workflow"],
    responses=ERRORS,
)
async def pending_price_list_changes(
    session: SessionDep,
    region_code: Annotated[str | None, Query(description="Default: your region.")] = None,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor),
) -> schemas.PendingPriceListChangePage:
    """Price lists waiting for an officer's decision within a region (yours by default, or
    one inside it), oldest first, each beside the list the provider is priced by now."""
    return schemas.PendingPriceListChangePage(
        items=await price_review.pending_in_region(session, principal, region_code)
    )


@router.post(
    "/providers/{provider_id}/price-list-changes/{change_id}/approve",
    response_model=schemas.PriceListChangeRead,
    tags=["workflow"],
    responses=_DECISION_ERRORS,
)
async def approve_price_list_change(
    provider_id: ProviderID,
    change_id: PriceChangeID,
    session: SessionDep,
    body: schemas.ChangeDecision | None = None,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.PriceListChangeRead:
    """Approve a pending price list (a civil-affairs officer of the provider's region, not
    the person who asked): bills are priced by it from the next directory poll."""
    return await price_review.decide(
        session,
        principal,
        provider_id,
        change_id,
        approve=True,
        reason=body.reason if body else None,
    )


@router.post(
    "/providers/{provider_id}/price-list-changes/{change_id}/reject",
    response_model=schemas.PriceListChangeRead,
    tags=["workflow"],
    responses=_DECISION_ERRORS,
)
async def reject_price_list_change(
    provider_id: ProviderID,
    change_id: PriceChangeID,
    body: schemas.ChangeRejection,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> schemas.PriceListChangeRead:
    """Reject a pending price list, with the reason; the approved prices stay."""
    return await price_review.decide(
        session, principal, provider_id, change_id, approve=False, reason=body.reason
    )
