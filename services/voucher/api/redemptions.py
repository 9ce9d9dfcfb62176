"""Routes: redemptions (the hot path), voids, claims, lists, outbox lag."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.common.auth import Principal, Role, require
from services.common.errors import AppError, NotFound
from services.voucher.api.deps import DirectoryDep, RawPoolDep
from services.voucher.repository import outbox as outbox_repo
from services.voucher.repository import redemption as repo
from services.voucher.schemas.redemptions import (
    ClaimCreate,
    ClaimRead,
    OutboxLag,
    RedemptionCreate,
    RedemptionCreated,
    RedemptionRead,
    VoidCreate,
    VoidRead,
)
from services.voucher.service import redemption_flow as flow

router = APIRouter(tags=["redemptions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Unknown or revoked terminal"},
    403: {"description": "PROVIDER_NOT_APPROVED, ROLE_NOT_ALLOWED"},
    409: {"description": "TOKEN_USED, IDEMPOTENCY_KEY_REUSED"},
    422: {"description": "TOKEN_INVALID, TOKEN_EXPIRED, NO_USABLE_VOUCHER, VOUCHER_EXHAUSTED, "
                         "DAILY_LIMIT_REACHED, BILL_TOO_SMALL, SERVICE_NOT_OFFERED, "
                         "BENEFICIARY_NOT_ACTIVE, PIN_REQUIRED, PIN_INCORRECT, VALIDATION_ERROR"},
    423: {"description": "CARD_LOCKED"},
}


@router.post("/redemptions", response_model=RedemptionCreated, status_code=201,
             responses={200: {"description": "A repeated request: the original answer"},
                        **ERRORS})
async def create_redemption(body: RedemptionCreate, request: Request, response: Response,
                            pool: RawPoolDep, directory: DirectoryDep,
                            principal: Principal = require(Role.terminal)) -> dict:
    """Redeem a scanned code at this terminal's provider.

    Pays `subsidy_fen = min(ratio × bill, balance, caps)` from the person's best usable
    voucher; the rest of `gross_fen` is the co-payment. The balance change, the redemption
    and the ledger event are committed together before this answers 201. The same
    `idempotency_key` with the same body answers 200 with the original result (header
    `Idempotent-Replayed: true`); with another body it is 409 IDEMPOTENCY_KEY_REUSED.
    """
    if not principal.provider_id:
        raise AppError("The terminal has no provider.", code="OUT_OF_SCOPE",
                       field="provider_id", status_code=403)
    result = await flow.redeem(
        pool, directory, provider_id=principal.provider_id,
        terminal_id=principal.terminal_id,
        req=flow.RedeemRequest(body.token, body.service_code, body.gross_fen,
                               body.idempotency_key, body.pin),
        qr_public_key=request.app.state.settings.qr_public_key)
    if result.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return {"id": result.id, "subsidy_fen": result.subsidy_fen,
            "copay_fen": result.copay_fen, "balance_fen": result.balance_fen,
            "voucher_id": result.voucher_id}


@router.post("/redemptions/{redemption_id}/void", response_model=VoidRead,
             responses={404: {"description": "NOT_FOUND"},
                        409: {"description": "REDEMPTION_CLAIMED, VOID_WINDOW_CLOSED"}})
async def void_redemption(redemption_id: uuid.UUID, body: VoidCreate, pool: RawPoolDep,
                          request: Request,
                          principal: Principal = require(Role.terminal, Role.provider_admin,
                                                         Role.provider_staff)) -> dict:
    """Void a redemption of your own provider, the same day and before it is claimed.

    The subsidy goes back on the voucher and `redemption.voided` goes to the ledger. Voiding
    again answers the same (`already_voided: true`) and changes nothing.
    """
    if not principal.provider_id:
        raise AppError("No provider in scope.", code="OUT_OF_SCOPE", field="provider_id",
                       status_code=403)
    result = await flow.void(pool, redemption_id, provider_id=principal.provider_id,
                             actor=principal.sub, reason=body.reason)
    # settlement: a void refunds whatever co-payment is left, also on a retried void
    # (services/voucher/service/copay.py; nothing left = nothing done)
    from services.voucher.api.copay import gateway
    from services.voucher.service import copay

    await copay.refund(pool, gateway(request), None, redemption_id=redemption_id,
                       provider_id=None, amount_fen=None)
    return result


@router.post("/internal/redemptions/claim", response_model=ClaimRead)
async def claim_redemptions(body: ClaimCreate, pool: RawPoolDep,
                            _: Principal = require(Role.service)) -> dict:
    """(Ledger settlement) Mark redemptions as claimed: they can no longer be voided.

    All or nothing: 409 REDEMPTION_VOIDED if any is voided, REDEMPTION_ALREADY_CLAIMED if any
    belongs to another claim; the same claim again changes nothing.
    """
    return await flow.claim(pool, body.redemption_ids, body.claim_id)


def _read(row: Any) -> dict:
    return {
        "id": str(row["id"]), "voucher_id": str(row["voucher_id"]),
        "beneficiary_id": str(row["beneficiary_id"]), "provider_id": row["provider_id"],
        "terminal_id": row["terminal_id"], "service_code": row["service_code"],
        "category": row["category"], "gross_fen": row["gross_fen"],
        "subsidy_fen": row["subsidy_fen"], "copay_fen": row["copay_fen"],
        "day_on": row["day_on"], "created_at": row["created_at"], "status": row["status"],
        "voided_at": row["voided_at"], "void_reason": row["void_reason"],
        "claimed": row["claimed_at"] is not None,
    }


@router.get("/redemptions", response_model=list[RedemptionRead])
async def provider_day(pool: RawPoolDep, provider_id: Annotated[str, Query(max_length=64)],
                       date_: Annotated[date, Query(alias="date")],
                       principal: Principal = require(Role.terminal, Role.provider_admin,
                                                      Role.provider_staff, Role.service)
                       ) -> list[dict]:
    """A provider's redemptions of one day (Asia/Shanghai), oldest first."""
    principal.ensure_provider(provider_id)
    return [_read(r) for r in await repo.for_provider_day(pool, provider_id, date_)]


@router.get("/beneficiaries/{beneficiary_id}/redemptions",
            response_model=list[RedemptionRead])
async def beneficiary_history(beneficiary_id: uuid.UUID, pool: RawPoolDep,
                              limit: Annotated[int, Query(ge=1, le=500)] = 100,
                              principal: Principal = require(Role.beneficiary, Role.proxy,
                                                             Role.civil_affairs)
                              ) -> list[dict]:
    """The person's redemptions, newest first (the person, a proxy, or an officer of the
    person's region)."""
    if principal.role in (Role.beneficiary, Role.proxy):
        principal.ensure_beneficiary(str(beneficiary_id))
    row = await repo.beneficiary_region(pool, beneficiary_id)
    if row is None:
        raise NotFound("No such beneficiary.", field="beneficiary_id")
    if principal.role == Role.civil_affairs:
        principal.ensure_region(row["region_code"])
    return [_read(r) for r in await repo.for_beneficiary(pool, beneficiary_id, limit)]


@router.get("/outbox/lag", response_model=OutboxLag)
async def outbox_lag(pool: RawPoolDep,
                     _: Principal = require(Role.civil_affairs, Role.finance, Role.auditor,
                                            Role.service)) -> dict:
    """How far the ledger relay is behind: undelivered events and the oldest one's age."""
    return await outbox_repo.lag(pool)
