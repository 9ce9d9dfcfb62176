"""Routes: redemptions (the hot path), voids, claims, lists, outbox lag."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.routing import Route

from services.common.auth import Principal, Role, authenticate, require
from services.common.db import DatabaseDep, SessionDep
from services.common.errors import OutOfScope
from services.common.lean import json_body
from services.common.types import IsoDate
from services.voucher.api.copay import gateway
from services.voucher.api.deps import DirectoryDep, RawPoolDep, ensure_acts_for
from services.voucher.models import Redemption
from services.voucher.repository import beneficiaries as beneficiaries_repo
from services.voucher.repository import redemption as hot_repo
from services.voucher.repository import redemption_flow as repo
from services.voucher.schemas.redemptions import (
    BillItemRead,
    BillLineRead,
    ClaimCreate,
    ClaimRead,
    OutboxLag,
    RedemptionCreate,
    RedemptionCreated,
    RedemptionPreviewCreate,
    RedemptionPreviewRead,
    RedemptionRead,
    VoidCreate,
    VoidRead,
)
from services.voucher.service import (
    beneficiaries,
    copay_refund,
    reviews,
    short_codes,
    void_claim,
)
from services.voucher.service import redemption_flow as flow
from services.voucher.service.pricing import ItemAsked

router = APIRouter(tags=["redemptions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Unknown or revoked terminal"},
    403: {"description": "PROVIDER_NOT_APPROVED, ROLE_NOT_ALLOWED"},
    409: {"description": "TOKEN_USED, IDEMPOTENCY_KEY_REUSED"},
    422: {
        "description": "TOKEN_INVALID, TOKEN_EXPIRED, NO_USABLE_VOUCHER, VOUCHER_EXHAUSTED, "
        "DAILY_LIMIT_REACHED, BILL_TOO_SMALL, SERVICE_NOT_OFFERED, BILL_MISMATCH, "
        "QUANTITY_NOT_ALLOWED, AMOUNT_REQUIRED, PRICE_ABOVE_MAXIMUM, "
        "BENEFICIARY_NOT_ACTIVE, PROVIDER_OUT_OF_AREA, OUT_OF_PROVINCE, PIN_REQUIRED, PIN_INCORRECT, "
        "VISIT_REQUIRED, VALIDATION_ERROR"
    },
    423: {"description": "CARD_LOCKED"},
}


_TERMINAL_ONLY = require(Role.terminal)


def _terminal_provider(principal: Principal) -> str:
    if not principal.provider_id:
        raise OutOfScope("The terminal has no provider.", field="provider_id")
    return principal.provider_id


def _bill_asked(body: RedemptionCreate | RedemptionPreviewCreate) -> flow.BillAsked:
    """The bill as sent, in either form (`items`, or `service_code` with `quantity`); a body
    with neither, or both, is a VALIDATION_ERROR naming the field."""
    problems = body.form_errors()
    if problems:
        raise RequestValidationError(problems)
    if body.items is not None:
        return flow.BillAsked(
            tuple(ItemAsked(i.service_code, i.quantity, i.amount_fen) for i in body.items),
            body.gross_fen,
            visit_id=body.visit_id,
        )
    assert body.service_code is not None  # form_errors() holds one of the two forms
    return flow.BillAsked.one(
        body.service_code, body.gross_fen, body.quantity or 1, visit_id=body.visit_id
    )


async def _typed_code(request: Request, provider_id: str, token: str) -> str:
    """A short numeric code typed in place of the QR token stands for its token
    (service/short_codes.py: bound, one-time with it, rate-limited per provider); a QR token
    is passed on as it is. Only typed digits cost a lookup."""
    digits = short_codes.normalise(token)
    if digits is None:
        return token
    settings = request.app.state.settings
    return await short_codes.resolve(
        request.app.state.db,
        provider_id,
        digits,
        max_failures=settings.short_code_max_failures,
        window_s=settings.short_code_window_s,
    )


async def _redeem(request: Request, body: RedemptionCreate, principal: Principal) -> Response:
    provider_id = _terminal_provider(principal)
    bill = _bill_asked(body)
    body.token = await _typed_code(request, provider_id, body.token)
    result = await flow.redeem(
        request.app.state.db,
        request.app.state.directory,
        provider_id=provider_id,
        terminal_id=principal.terminal_id,
        req=flow.RedeemRequest(body.token, bill, body.idempotency_key, body.pin, body.staff_id),
        qr_public_key=request.app.state.settings.qr_public_key,
    )
    content = orjson.dumps(
        {
            "id": result.id,
            "subsidy_fen": result.subsidy_fen,
            "copay_fen": result.copay_fen,
            "balance_fen": result.balance_fen,
            "voucher_id": result.voucher_id,
            "gross_fen": result.gross_fen,
        }
    )
    if result.replayed:
        return Response(
            content,
            status_code=200,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    return Response(content, status_code=201, media_type="application/json")


async def _redeem_lean(request: Request) -> Response:
    """POST /v1/redemptions without FastAPI's per-request machinery: the same checks in the
    same order as the declared route (authenticate, role, then the body), one parse of the
    body straight from JSON into `RedemptionCreate`, errors in the usual shape."""
    principal = await _TERMINAL_ONLY.dependency(await authenticate(request))
    body = json_body(await request.body(), RedemptionCreate)
    return await _redeem(request, body, principal)


def hot_route(prefix: str = "/v1") -> Route:
    """POST /v1/redemptions as a plain route for the front of the app's route list, so the
    busiest call is matched first instead of after a scan of every included route (the
    documented route below stays in the OpenAPI document and answers the same)."""
    return Route(f"{prefix}/redemptions", _redeem_lean, methods=["POST"], include_in_schema=False)


class LeanRedemptionRoute(APIRoute):
    """The hot path's route: documented from its endpoint like any other (body schema,
    responses, docstring), served by `_redeem_lean` (no dependency solving, no response
    model re-validation). The behaviour is that of the endpoint; tests cover both."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return _redeem_lean


async def create_redemption(
    body: RedemptionCreate, request: Request, principal: Principal = _TERMINAL_ONLY
) -> Response:
    """Redeem a scanned code at this terminal's provider.

    The bill is what was sold: `items: [{service_code, quantity, amount_fen?}]`, or one
    `service_code` with its `quantity` (1 by default). The service prices it from the
    provider's price list (`amount_fen` only for a variable-price item, at most its
    `max_price_fen`); a `gross_fen` that is sent must equal the priced bill, else 422
    BILL_MISMATCH and nothing changes. Pays `subsidy_fen = min(ratio × bill, balance, caps)`
    from the person's best usable voucher covering every item's category; the rest of the
    bill (`gross_fen` in the answer) is the co-payment. The balance change, the redemption,
    its lines and the ledger event are committed together before this answers 201. The same
    `idempotency_key` with the same body answers 200 with the original result (header
    `Idempotent-Replayed: true`); with another body it is 409 IDEMPOTENCY_KEY_REUSED.
    """
    return await _redeem(request, body, principal)


router.add_api_route(
    "/redemptions",
    create_redemption,
    methods=["POST"],
    response_model=RedemptionCreated,
    status_code=201,
    responses={200: {"description": "A repeated request: the original answer"}, **ERRORS},
    route_class_override=LeanRedemptionRoute,
)


@router.post("/redemptions/preview", response_model=RedemptionPreviewRead, responses=ERRORS)
async def preview_redemption(
    body: RedemptionPreviewCreate,
    request: Request,
    db: DatabaseDep,
    directory: DirectoryDep,
    principal: Principal = require(Role.terminal),
) -> RedemptionPreviewRead:
    """What this bill would get if redeemed now: the bill priced from the price list
    (`gross_fen`, `items` with unit prices, `price_list_version`), `subsidy_fen`,
    `copay_fen`, the voucher's `balance_fen` after it, `voucher_id` and `program_code`,
    and `code_expires_at`: when the code expires (null for a card; for typed short digits,
    their token's expiry, which is theirs too).

    Read-only: the code stays unused (its nonce is not consumed) and nothing is written, so
    the staff can show the person the co-payment before confirming with POST
    /v1/redemptions. The same checks and refusal codes as the redemption.
    """
    provider_id = _terminal_provider(principal)
    bill = _bill_asked(body)
    body.token = await _typed_code(request, provider_id, body.token)
    result = await flow.preview(
        db,
        directory,
        provider_id=provider_id,
        token_text=body.token,
        bill=bill,
        pin=body.pin,
        qr_public_key=request.app.state.settings.qr_public_key,
    )
    return RedemptionPreviewRead(
        subsidy_fen=result.subsidy_fen,
        copay_fen=result.copay_fen,
        balance_fen=result.balance_fen,
        voucher_id=result.voucher_id,
        program_code=result.program_code,
        gross_fen=result.bill.gross_fen,
        items=[
            BillLineRead(
                service_code=line.service_code,
                name=line.name,
                unit=line.unit,
                category=line.category,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.amount_fen,
            )
            for line in result.bill.lines
        ],
        price_list_version=result.bill.price_list_version,
        code_expires_at=result.code_expires_at,
        beneficiary_name_masked=result.beneficiary_name_masked,
    )


@router.post(
    "/redemptions/{redemption_id}/void",
    response_model=VoidRead,
    responses={
        404: {"description": "NOT_FOUND"},
        409: {"description": "REDEMPTION_CLAIMED, VOID_WINDOW_CLOSED"},
    },
)
async def void_redemption(
    redemption_id: uuid.UUID,
    body: VoidCreate,
    db: DatabaseDep,
    request: Request,
    principal: Principal = require(Role.terminal, Role.provider_admin, Role.provider_staff),
) -> VoidRead:
    """Void a redemption of your own provider, the same day and before it is claimed.

    The subsidy goes back on the voucher and `redemption.voided` goes to the ledger; a
    co-payment already paid is refunded (durably: if Stripe is down the void still answers
    200 and the refund is retried until Stripe confirms it). Voiding again answers the same
    (`already_voided: true`) and changes nothing.
    """
    if not principal.provider_id:
        raise OutOfScope("No provider in scope.", field="provider_id")
    result, refund_waiting = await void_claim.void(
        db,
        redemption_id,
        provider_id=principal.provider_id,
        actor=principal.sub,
        reason=body.reason,
    )
    # The void recorded its co-payment's refund; send it to Stripe now. If Stripe does not
    # answer, the void still stands (200) and the retry loop sends the refund later.
    if refund_waiting:
        await copay_refund.process_for_redemption(db, gateway(request), redemption_id)
    return result


@router.post("/internal/redemptions/claim", response_model=ClaimRead)
async def claim_redemptions(
    body: ClaimCreate, session: SessionDep, _: Principal = require(Role.service)
) -> ClaimRead:
    """(Ledger settlement) Mark redemptions as claimed: they can no longer be voided.

    All or nothing: 409 REDEMPTION_VOIDED if any is voided, REDEMPTION_ALREADY_CLAIMED if any
    belongs to another claim; the same claim again changes nothing.
    """
    return await void_claim.claim(session, body.redemption_ids, body.claim_id)


def _read(
    r: Redemption,
    review_state: str | None = None,
    lines: dict[uuid.UUID, list[tuple[str, int]]] | None = None,
    programs: dict[uuid.UUID, str] | None = None,
) -> RedemptionRead:
    return RedemptionRead(
        program_code=(programs or {}).get(r.voucher_id),
        balance_after_fen=r.balance_after_fen,
        items=[
            BillItemRead(service_code=c, quantity=q)
            for c, q in (lines or {}).get(r.id) or [repo.bill_line_of(r)]
        ],
        id=str(r.id),
        voucher_id=str(r.voucher_id),
        beneficiary_id=str(r.beneficiary_id),
        provider_id=r.provider_id,
        terminal_id=r.terminal_id,
        service_code=r.service_code,
        category=r.category,
        gross_fen=r.gross_fen,
        subsidy_fen=r.subsidy_fen,
        copay_fen=r.copay_fen,
        day_on=r.day_on,
        created_at=r.created_at,
        status=r.status,
        voided_at=r.voided_at,
        void_reason=r.void_reason,
        claimed=r.claimed_at is not None,
        review_state=review_state,
    )


@router.get("/redemptions", response_model=list[RedemptionRead])
async def provider_day(
    session: SessionDep,
    provider_id: Annotated[str, Query(max_length=64)],
    date_: Annotated[IsoDate, Query(alias="date")],
    principal: Principal = require(
        Role.terminal, Role.provider_admin, Role.provider_staff, Role.service
    ),
) -> list[RedemptionRead]:
    """A provider's redemptions of one day (Asia/Shanghai), oldest first, each with how its
    co-payment is being taken once that was chosen (`copayment_id`, `copay_method`,
    `copay_status`; null before)."""
    principal.ensure_provider(provider_id)
    rows = await repo.for_provider_day(session, provider_id, date_)
    ways = await repo.copay_ways(session, [r.id for r in rows])
    lines = await repo.bill_lines(session, [r.id for r in rows])
    programs = await repo.program_codes(session, [r.voucher_id for r in rows])
    out = []
    for r in rows:
        read = _read(r, lines=lines, programs=programs)
        way = ways.get(r.id)
        if way is not None:
            read.copayment_id, read.copay_method, read.copay_status = (
                str(way.id),
                way.method,
                way.status,
            )
        out.append(read)
    return out


@router.get("/beneficiaries/{beneficiary_id}/redemptions", response_model=list[RedemptionRead])
async def beneficiary_history(
    beneficiary_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    principal: Principal = require(Role.beneficiary, Role.proxy, Role.civil_affairs),
) -> list[RedemptionRead]:
    """The person's redemptions, newest first (the person, a proxy, or an officer of the
    person's region; to anyone else the person is 404 BENEFICIARY_NOT_FOUND), each with its
    `review_state` (open, confirmed, disputed, closed)."""
    if principal.role in (Role.beneficiary, Role.proxy):
        await ensure_acts_for(session, principal, beneficiary_id)
    person = await beneficiaries_repo.brief(session, beneficiary_id)
    if person is None or (
        principal.role == Role.civil_affairs and not principal.covers_region(person.region_code)
    ):
        raise beneficiaries.not_found()
    rows = await repo.for_beneficiary(session, beneficiary_id, limit)
    states = await reviews.review_states(
        session, rows, request.app.state.settings.review_window_days, datetime.now(UTC)
    )
    lines = await repo.bill_lines(session, [r.id for r in rows])
    programs = await repo.program_codes(session, [r.voucher_id for r in rows])
    return [_read(r, states.get(r.id), lines, programs) for r in rows]


@router.get("/outbox/lag", response_model=OutboxLag)
async def outbox_lag(
    pool: RawPoolDep,
    _: Principal = require(Role.civil_affairs, Role.finance, Role.auditor, Role.service),
) -> OutboxLag:
    """How far the ledger relay is behind: undelivered events and the oldest one's age."""
    lag = await hot_repo.lag(pool)
    return OutboxLag(
        undelivered=lag.undelivered,
        rejected=lag.rejected,
        oldest_undelivered_at=lag.oldest_undelivered_at,
        oldest_age_s=lag.oldest_age_s,
    )
