"""Routes of claims and their approval. Rules are in service/claims.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.common.auth import Principal, Role
from services.common.db import DatabaseDep, SessionDep
from services.ledger.settlement.api.deps import (
    ERRORS,
    FINANCE,
    PROVIDER_ADMIN,
    READERS,
    VoucherDep,
    require_region_scope,
)
from services.ledger.settlement.schemas import (
    ClaimableRead,
    ClaimApprove,
    ClaimCreate,
    ClaimList,
    ClaimRead,
    ClaimReject,
    ClaimResubmit,
    Period,
)
from services.ledger.settlement.service import claims
from services.ledger.settlement.service.claim_rules import ensure_may_see

router = APIRouter(tags=["settlement"])


@router.get("/claims/claimable", responses=ERRORS)
async def get_claimable(
    session: SessionDep,
    provider_id: Annotated[str, Query(min_length=1, max_length=64)],
    period: Annotated[Period, Query()],
    p: Principal = PROVIDER_ADMIN,
) -> ClaimableRead:
    """What the provider could claim for the period now: posted redemptions not voided and
    in no claim, with the total."""
    p.ensure_provider(provider_id)
    return await claims.claimable(session, provider_id, period)


@router.post("/claims", status_code=201, responses=ERRORS)
async def create_claim(
    body: ClaimCreate, db: DatabaseDep, voucher: VoucherDep, p: Principal = PROVIDER_ADMIN
) -> ClaimRead:
    """Claim a period for your provider: `{provider_id, period}` claims every claimable
    redemption; `redemption_ids` claims exactly those (any that is not posted, voided,
    already claimed or of another period is refused and named in `details.lines`). The
    redemptions are marked claimed in the voucher service, after which they cannot be voided.
    Idempotent by `idempotency_key`."""
    p.ensure_provider(body.provider_id)
    return await claims.create_claim(db, voucher, body, p)


@router.get("/claims", responses=ERRORS)
async def list_claims(
    session: SessionDep,
    provider_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[
        str | None, Query(pattern="^(submitted|rejected|approved|batched|paid)$")
    ] = None,
    period: Annotated[Period | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    p: Principal = READERS,
) -> ClaimList:
    """Claims, newest first: a provider admin sees its own provider's; finance and auditors
    those whose regions they cover (e.g. `status=submitted` to find work to approve)."""
    if p.role == Role.provider_admin:
        if provider_id is None:
            provider_id = p.provider_id or ""
        p.ensure_provider(provider_id)
    else:
        require_region_scope(p)
    items = await claims.list_claims(
        session, p, provider_id=provider_id, status=status, period=period, limit=limit
    )
    return ClaimList(items=items)


@router.get("/claims/{claim_id}", responses=ERRORS)
async def get_claim(claim_id: uuid.UUID, session: SessionDep, p: Principal = READERS) -> ClaimRead:
    """A claim with its redemptions, total and history (comments, reasons)."""
    ensure_may_see(p, await claims.claim_for(session, claim_id))
    return await claims.read_claim(session, claim_id)


@router.post("/claims/{claim_id}/approve", responses=ERRORS)
async def approve_claim(
    claim_id: uuid.UUID, db: DatabaseDep, body: ClaimApprove | None = None, p: Principal = FINANCE
) -> ClaimRead:
    """Approve a submitted claim (maker-checker): finance covering the claim's region, not
    the person who prepared, submitted or edited it. Approving again answers the same."""
    comment = body.comment if body else None
    return await claims.decide(db, claim_id, p, approve=True, comment=comment)


@router.post("/claims/{claim_id}/reject", responses=ERRORS)
async def reject_claim(
    claim_id: uuid.UUID, body: ClaimReject, db: DatabaseDep, p: Principal = FINANCE
) -> ClaimRead:
    """Send a submitted claim back to the provider with reasons."""
    return await claims.decide(
        db, claim_id, p, approve=False, comment=body.comment, reasons=body.reasons
    )


@router.post("/claims/{claim_id}/resubmit", responses=ERRORS)
async def resubmit_claim(
    claim_id: uuid.UUID,
    session: SessionDep,
    body: ClaimResubmit | None = None,
    p: Principal = PROVIDER_ADMIN,
) -> ClaimRead:
    """Send a rejected claim back to finance (the provider's admin)."""
    return await claims.resubmit(session, claim_id, p, body.comment if body else None)
