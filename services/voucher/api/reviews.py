"""Routes: receipts, confirmations, disputes and their decisions and appeals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.common.errors import OutOfScope
from services.voucher.api.deps import DirectoryDep
from services.voucher.schemas.reviews import (
    AppealCreate,
    ConfirmCreate,
    DecisionCreate,
    DisputeCreate,
    DisputeDetail,
    DisputeRead,
    ReceiptRead,
)
from services.voucher.service import reviews
from services.voucher.service.reviews import Policy

router = APIRouter(tags=["receipts"])

_PERSON = require(Role.beneficiary, Role.proxy)
_OFFICER = require(Role.civil_affairs)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "ROLE_NOT_ALLOWED; OUT_OF_SCOPE for a proxy whose authorisation was revoked"
    },
    404: {"description": "REDEMPTION_NOT_FOUND (also outside the caller's scope)"},
}
_REVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"description": "REVIEW_WINDOW_CLOSED, REDEMPTION_ALREADY_REVIEWED, REDEMPTION_VOIDED"},
}
_DISPUTE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE"},
    404: {"description": "DISPUTE_NOT_FOUND (also outside the caller's scope)"},
}


def policy_of(request: Request) -> Policy:
    s = request.app.state.settings
    return Policy(
        review_window_days=s.review_window_days,
        dispute_answer_days=s.dispute_answer_days,
        dispute_at_risk_days=s.dispute_at_risk_days,
        appeal_window_days=s.appeal_window_days,
    )


@router.get(
    "/redemptions/{redemption_id}/receipt", response_model=ReceiptRead, responses=_NOT_FOUND
)
async def get_receipt(
    redemption_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    principal: Principal = require(
        Role.beneficiary,
        Role.proxy,
        Role.terminal,
        Role.provider_admin,
        Role.provider_staff,
        Role.civil_affairs,
    ),
) -> ReceiptRead:
    """The receipt of a redemption: provider, terminal, items with unit prices and
    quantities, subsidy, co-payment, the voucher's balance after, the time (Asia/Shanghai,
    with its offset), the home visit it was delivered in, whether the person confirmed or
    disputed it (and until when they may), the dispute and its history.

    For the person, their proxy, the provider's own people and terminals, and the officers
    of the person's region; to anyone else 404 REDEMPTION_NOT_FOUND, as an unknown id."""
    return await reviews.receipt(
        session, directory, principal, redemption_id, policy_of(request), datetime.now(UTC)
    )


@router.post(
    "/redemptions/{redemption_id}/confirm", response_model=ReceiptRead, responses=_REVIEW_ERRORS
)
async def confirm_redemption(
    redemption_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    body: ConfirmCreate | None = None,
    principal: Principal = _PERSON,
) -> ReceiptRead:
    """The person (or their proxy, from their own account: never a provider's device)
    confirms the redemption happened as its receipt says. Within the review window
    (`YIYANG_VOUCHER_REVIEW_WINDOW_DAYS`, 7 by default: else 409 REVIEW_WINDOW_CLOSED),
    once: a redemption already confirmed or disputed is 409 REDEMPTION_ALREADY_REVIEWED
    (`details.state`). Answers the receipt."""
    return await reviews.confirm(
        session, directory, principal, redemption_id, policy_of(request), datetime.now(UTC)
    )


@router.post(
    "/redemptions/{redemption_id}/dispute",
    response_model=DisputeRead,
    status_code=201,
    responses=_REVIEW_ERRORS,
)
async def dispute_redemption(
    redemption_id: uuid.UUID,
    body: DisputeCreate,
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    principal: Principal = _PERSON,
) -> DisputeRead:
    """The person (or their proxy) disputes the redemption `{reason}`: opens a case for the
    officers of the person's region with a deadline to answer
    (`YIYANG_VOUCHER_DISPUTE_ANSWER_DAYS`). The same window and "once" as a confirmation."""
    return await reviews.dispute(
        session,
        directory,
        principal,
        redemption_id,
        body.reason,
        policy_of(request),
        datetime.now(UTC),
    )


_STATUSES = {
    "open": ["open"],
    "decided": ["decided"],
    "appealed": ["appealed"],
    "closed": ["closed"],
    "pending": ["open", "appealed"],
    "all": [],
}


@router.get("/disputes", response_model=list[DisputeRead], responses=_DISPUTE_ERRORS)
async def list_disputes(
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    region_code: Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$")] = None,
    status: Literal["open", "decided", "appealed", "closed", "pending", "all"] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    principal: Principal = _OFFICER,
) -> list[DisputeRead]:
    """Disputes of people in the region (your own region by default; a sub-region may be
    asked), most urgent deadline first. `status`: pending (open or appealed: waiting for
    an answer, the default), open, decided, appealed, closed or all. Each carries its
    `deadline`: on_track, at_risk, overdue, or answered."""
    region = region_code or principal.region
    if not region:
        raise OutOfScope("No region in scope.", field="region_code")
    principal.ensure_region(region)
    return await reviews.listing(
        session, directory, region, _STATUSES[status], policy_of(request), datetime.now(UTC), limit
    )


@router.get("/disputes/{dispute_id}", response_model=DisputeDetail, responses=_DISPUTE_ERRORS)
async def get_dispute(
    dispute_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    principal: Principal = require(Role.civil_affairs, Role.beneficiary, Role.proxy),
) -> DisputeDetail:
    """A dispute with the receipt attached (an officer of the person's region, the person,
    their proxy; anyone else 404 DISPUTE_NOT_FOUND)."""
    return await reviews.detail(
        session, directory, principal, dispute_id, policy_of(request), datetime.now(UTC)
    )


@router.post(
    "/disputes/{dispute_id}/decision",
    response_model=DisputeRead,
    responses={**_DISPUTE_ERRORS, 409: {"description": "DISPUTE_ALREADY_DECIDED"}},
)
async def decide_dispute(
    dispute_id: uuid.UUID,
    body: DecisionCreate,
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    principal: Principal = _OFFICER,
) -> DisputeRead:
    """Decide an open dispute, or later its appeal: `{decision: upheld | partly_upheld |
    rejected, reason}`, by an officer of the person's region. Each stage is decided once
    (409 DISPUTE_ALREADY_DECIDED)."""
    return await reviews.decide(
        session,
        directory,
        principal,
        dispute_id,
        body.decision,
        body.reason,
        policy_of(request),
        datetime.now(UTC),
    )


@router.post(
    "/disputes/{dispute_id}/appeal",
    response_model=DisputeRead,
    responses={
        **_DISPUTE_ERRORS,
        409: {"description": "DISPUTE_NOT_DECIDED, APPEAL_ALREADY_MADE, APPEAL_WINDOW_CLOSED"},
    },
)
async def appeal_dispute(
    dispute_id: uuid.UUID,
    body: AppealCreate,
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    principal: Principal = _PERSON,
) -> DisputeRead:
    """The person (or their proxy) appeals the decision `{reason}`, once, within
    `YIYANG_VOUCHER_APPEAL_WINDOW_DAYS` of it; the officers decide once more."""
    return await reviews.appeal(
        session,
        directory,
        principal,
        dispute_id,
        body.reason,
        policy_of(request),
        datetime.now(UTC),
    )
