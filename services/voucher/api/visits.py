"""Routes: home visits, checked in and out on the provider's terminal with the elder's live
code (service/visits.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from services.common.auth import Principal, Role, require
from services.common.errors import OutOfScope
from services.voucher.api.deps import DirectoryDep
from services.voucher.schemas.reviews import VisitCheckIn, VisitCheckOut, VisitRead
from services.voucher.service import visits

router = APIRouter(tags=["visits"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "INVALID_TERMINAL"},
    403: {"description": "ROLE_NOT_ALLOWED (a terminal only), PROVIDER_NOT_APPROVED"},
    409: {"description": "TOKEN_USED, VISIT_ALREADY_CHECKED_OUT"},
    422: {
        "description": "TOKEN_INVALID, TOKEN_EXPIRED, PIN_REQUIRED, PIN_INCORRECT, "
        "CARD_NOT_VALID, BENEFICIARY_NOT_ACTIVE, VISIT_OUT_OF_RADIUS, VISIT_CODE_MISMATCH, "
        "VALIDATION_ERROR"
    },
    423: {"description": "CARD_LOCKED"},
}


def _provider(principal: Principal) -> str:
    if not principal.provider_id:
        raise OutOfScope("No provider in scope.", field="provider_id")
    return principal.provider_id


@router.post("/visits", response_model=VisitRead, status_code=201, responses=_ERRORS)
async def check_in(
    body: VisitCheckIn,
    request: Request,
    directory: DirectoryDep,
    principal: Principal = require(Role.terminal),
) -> VisitRead:
    """A care worker checks in at the elder's home: the terminal scans the elder's live
    code (the phone's dynamic code, spent here; or the printed card with its PIN typed by
    the elder) and sends its position `lat`, `lon`. When the elder's registered location is
    exact, the position must lie within `YIYANG_VOUCHER_VISIT_RADIUS_M` of it (else 422
    VISIT_OUT_OF_RADIUS, nothing recorded); an approximate one skips the check
    (`location_check`: approximate). Optional `care_worker`: who visits."""
    s = request.app.state.settings
    return await visits.check_in(
        request.app.state.db,
        directory,
        provider_id=_provider(principal),
        terminal_id=principal.terminal_id,
        scan=visits.Scan(body.token, body.pin, body.lat, body.lon),
        care_worker=body.care_worker,
        qr_public_key=s.qr_public_key,
        radius_m=s.visit_radius_m,
        now=datetime.now(UTC),
    )


@router.post("/visits/{visit_id}/check-out", response_model=VisitRead, responses=_ERRORS)
async def check_out(
    visit_id: uuid.UUID,
    body: VisitCheckOut,
    request: Request,
    directory: DirectoryDep,
    principal: Principal = require(Role.terminal),
) -> VisitRead:
    """The care worker checks out: a fresh code of the same elder (422 VISIT_CODE_MISMATCH
    for another person's; a code already spent is 409 TOKEN_USED) and the position (the same
    radius rule); records the time and the duration (`duration_s`, `minutes`). Once (409
    VISIT_ALREADY_CHECKED_OUT). Another provider's visit is 404 VISIT_NOT_FOUND."""
    s = request.app.state.settings
    return await visits.check_out(
        request.app.state.db,
        directory,
        provider_id=_provider(principal),
        terminal_id=principal.terminal_id,
        visit_id=visit_id,
        scan=visits.Scan(body.token, body.pin, body.lat, body.lon),
        qr_public_key=s.qr_public_key,
        radius_m=s.visit_radius_m,
        now=datetime.now(UTC),
    )


@router.get("/visits", response_model=list[VisitRead])
async def list_visits(
    request: Request,
    status: Literal["open", "completed"] = "open",
    unbilled: bool = False,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
    principal: Principal = require(Role.terminal, Role.provider_admin, Role.provider_staff),
) -> list[VisitRead]:
    """This provider's visits of the last `days` days, newest first (at most 200): open ones
    to check out, or completed ones (`unbilled=true`: not yet billed) to bill."""
    return await visits.listing(
        request.app.state.db, _provider(principal), status, unbilled, days, datetime.now(UTC)
    )


@router.get(
    "/visits/{visit_id}",
    response_model=VisitRead,
    responses={404: {"description": "VISIT_NOT_FOUND (also another provider's)"}},
)
async def get_visit(
    visit_id: uuid.UUID,
    request: Request,
    principal: Principal = require(Role.terminal, Role.provider_admin, Role.provider_staff),
) -> VisitRead:
    """One of this provider's visits (the family sees it on the receipt)."""
    return await visits.get(request.app.state.db, _provider(principal), visit_id)
