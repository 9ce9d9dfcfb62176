"""Routes of settlement: claims (and their approval). Rules are in claims.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.common.auth import Principal, Role, require
from services.common.settings import get_common_settings
from services.ledger.settlement import claims
from services.ledger.settlement.clients import VoucherClient
from services.ledger.settlement.schemas import (
    ClaimApprove,
    ClaimCreate,
    ClaimReject,
    ClaimResubmit,
    Period,
)

router = APIRouter(prefix="/v1", tags=["settlement"])

PROVIDER_ADMIN = require(Role.provider_admin)
FINANCE = require(Role.finance)
READERS = require(Role.provider_admin, Role.finance, Role.auditor)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED / TOKEN_EXPIRED / INVALID_TOKEN"},
    403: {"description": "ROLE_NOT_ALLOWED / OUT_OF_SCOPE / MAKER_CHECKER_VIOLATION"},
    404: {"description": "CLAIM_NOT_FOUND"},
    409: {"description": "IDEMPOTENCY_KEY_REUSED / CLAIM_STATUS_CONFLICT"},
    422: {"description": "VALIDATION_ERROR / NOTHING_TO_CLAIM / CLAIM_LINES_REFUSED"},
    503: {"description": "VOUCHER_SERVICE_UNAVAILABLE (retry with the same key)"},
}


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.db.raw_pool


def _voucher(request: Request) -> VoucherClient:
    """The voucher client: an injected `app.state.voucher_client` (tests) or one to the
    configured voucher URL, made once."""
    client = getattr(request.app.state, "voucher_api", None)
    if client is None:
        settings = get_common_settings()
        http = getattr(request.app.state, "voucher_client", None) or httpx.AsyncClient(
            base_url=settings.voucher_url)
        client = request.app.state.voucher_api = VoucherClient(http,
                                                                settings.auth_private_key)
    return client


@router.get("/claims/claimable", responses=ERRORS)
async def get_claimable(request: Request,
                        provider_id: Annotated[str, Query(min_length=1, max_length=64)],
                        period: Annotated[Period, Query()],
                        p: Principal = PROVIDER_ADMIN) -> dict[str, Any]:
    """What the provider could claim for the period now: posted redemptions not voided and
    in no claim, with the total."""
    p.ensure_provider(provider_id)
    return await claims.claimable(_pool(request), provider_id, period)


@router.post("/claims", status_code=201, responses=ERRORS)
async def create_claim(body: ClaimCreate, request: Request,
                       p: Principal = PROVIDER_ADMIN) -> JSONResponse:
    """Claim a period for your provider: `{provider_id, period}` claims every claimable
    redemption; `redemption_ids` claims exactly those (any that is not posted, voided,
    already claimed or of another period is refused and named in `details.lines`). The
    redemptions are marked claimed in the voucher service, after which they cannot be voided.
    Idempotent by `idempotency_key`."""
    p.ensure_provider(body.provider_id)
    status, out = await claims.create_claim(_pool(request), _voucher(request), body, p)
    return JSONResponse(out, status_code=status)


@router.get("/claims/{claim_id}", responses=ERRORS)
async def get_claim(claim_id: uuid.UUID, request: Request,
                    p: Principal = READERS) -> dict[str, Any]:
    """A claim with its redemptions, total and history (comments, reasons)."""
    claim = await claims.claim_for(_pool(request), claim_id)
    claims.ensure_may_see(p, claim)
    return await claims.read_claim(_pool(request), claim_id)


@router.post("/claims/{claim_id}/approve", responses=ERRORS)
async def approve_claim(claim_id: uuid.UUID, request: Request, body: ClaimApprove | None = None,
                        p: Principal = FINANCE) -> dict[str, Any]:
    """Approve a submitted claim (maker-checker): finance covering the claim's region, not
    the person who prepared, submitted or edited it. Approving again answers the same."""
    return await claims.decide(_pool(request), claim_id, p, approve=True,
                               comment=body.comment if body else None)


@router.post("/claims/{claim_id}/reject", responses=ERRORS)
async def reject_claim(claim_id: uuid.UUID, body: ClaimReject, request: Request,
                       p: Principal = FINANCE) -> dict[str, Any]:
    """Send a submitted claim back to the provider with reasons."""
    return await claims.decide(_pool(request), claim_id, p, approve=False,
                               comment=body.comment, reasons=body.reasons)


@router.post("/claims/{claim_id}/resubmit", responses=ERRORS)
async def resubmit_claim(claim_id: uuid.UUID, request: Request,
                         body: ClaimResubmit | None = None,
                         p: Principal = PROVIDER_ADMIN) -> dict[str, Any]:
    """Send a rejected claim back to finance (the provider's admin)."""
    return await claims.resubmit(_pool(request), claim_id, p, body.comment if body else None)
