"""Routes: co-payments (online through Stripe, or cash), the family's payment of them, the
Stripe webhook and the sync that stands in for a lost webhook (docs/copayments.md)."""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role, require
from services.common.db import DatabaseDep, SessionDep
from services.common.errors import OutOfScope
from services.voucher.api.deps import ensure_acts_for
from services.voucher.clients import StripeGateway
from services.voucher.errors import CopayNotFound, InvalidSignature
from services.voucher.repository.copay import CopaymentView
from services.voucher.schemas.copay import (
    CopayCreate,
    CopaymentDetail,
    CopaymentRead,
    RefundCreate,
    WebhookAnswer,
)
from services.voucher.service import copay, copay_refund

router = APIRouter(tags=["copayments"])
PROVIDER_SIDE = require(Role.terminal, Role.provider_admin, Role.provider_staff)
PROVIDER_ADMIN = require(Role.provider_admin)
FAMILY = require(Role.beneficiary, Role.proxy)
FAMILY_OR_PROVIDER = require(
    Role.beneficiary,
    Role.proxy,
    Role.terminal,
    Role.provider_admin,
    Role.provider_staff,
    Role.service,
)
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE (another person's, a revoked proxy)"},
    404: {"description": "COPAYMENT_NOT_FOUND"},
    409: {"description": "COPAYMENT_NOT_PAYABLE"},
    503: {"description": "PAYMENT_PROVIDER_UNAVAILABLE (Stripe did not answer; retry)"},
}


def gateway(request: Request) -> StripeGateway:
    return gateway_of(request.app)


def gateway_of(app: Any) -> StripeGateway:
    gw: StripeGateway | None = getattr(app.state, "stripe_gateway", None)
    if gw is None:
        s = app.state.settings
        gw = app.state.stripe_gateway = StripeGateway(s.stripe_secret_key, s.stripe_api_base)
    return gw


def _provider(p: Principal) -> str:
    if not p.provider_id:
        raise OutOfScope("No provider in scope.", field="provider_id")
    return p.provider_id


async def _visible(session: AsyncSession, p: Principal, copayment_id: uuid.UUID) -> CopaymentView:
    """The co-payment, if this caller may see it: the person it was for (or their live
    proxy), its provider's side, or a service."""
    view = await copay.get(session, copayment_id)
    if p.role in (Role.beneficiary, Role.proxy):
        await ensure_acts_for(
            session, p, view.beneficiary_id, hidden=lambda: CopayNotFound(field="copayment_id")
        )
    elif p.role != Role.service and view.copayment.provider_id != _provider(p):
        raise CopayNotFound(field="copayment_id")
    return view


@router.post("/redemptions/{redemption_id}/copayment", response_model=CopaymentRead)
async def start_copayment(
    redemption_id: uuid.UUID,
    body: CopayCreate,
    request: Request,
    session: SessionDep,
    p: Principal = PROVIDER_SIDE,
) -> CopaymentRead:
    """Open the co-payment of a redemption of your provider: `stripe` creates a
    PaymentIntent (metadata `redemption_id`; `client_secret` for the family's payment page),
    `cash` records cash taken at the counter. One per redemption: asking again answers the
    same co-payment."""
    return await copay.start(
        session,
        gateway(request),
        redemption_id,
        provider_id=_provider(p),
        method=body.method,
        actor=p.sub,
    )


@router.post(
    "/copayments/{copayment_id}/refund",
    response_model=CopaymentRead,
    responses={
        202: {"description": "Recorded; Stripe did not answer, it is retried"},
        409: {"description": "REFUND_EXCEEDS_CAPTURED, IDEMPOTENCY_KEY_REUSED"},
    },
)
async def refund_copayment(
    copayment_id: uuid.UUID,
    body: RefundCreate,
    request: Request,
    db: DatabaseDep,
    p: Principal = PROVIDER_ADMIN,
) -> Any:
    """Refund part (`amount_fen`) or all of a co-payment of your provider; never more than
    captured minus refunded and already promised (409 REFUND_EXCEEDS_CAPTURED). Idempotent
    by `idempotency_key` within the co-payment (another co-payment may use the same key). 200 when refunded; 202 when recorded but Stripe did not answer:
    the refund is retried until Stripe confirms it (`refund_pending_fen`)."""
    body_out, done = await copay_refund.request(
        db,
        gateway(request),
        copayment_id,
        provider_id=_provider(p),
        amount_fen=body.amount_fen,
        idempotency_key=f"refund:{copayment_id}:{body.idempotency_key}",
    )
    return body_out if done else JSONResponse(body_out.model_dump(mode="json"), status_code=202)


@router.get(
    "/beneficiaries/{beneficiary_id}/copayments",
    response_model=list[CopaymentDetail],
    responses=ERRORS,
)
async def due_copayments(
    beneficiary_id: uuid.UUID, session: SessionDep, p: Principal = FAMILY
) -> list[CopaymentDetail]:
    """The person's online co-payments waiting to be paid (the person, or a proxy whose
    authorisation is live): amount, provider, service, when. Voided ones are not listed."""
    await ensure_acts_for(session, p, beneficiary_id)
    return await copay.due(session, beneficiary_id)


@router.get("/copayments/{copayment_id}", response_model=CopaymentDetail, responses=ERRORS)
async def read_copayment(
    copayment_id: uuid.UUID, session: SessionDep, p: Principal = FAMILY_OR_PROVIDER
) -> CopaymentDetail:
    """One co-payment and its status (`open`, `succeeded`, `refunded`): for the person it
    was for (or their live proxy), its provider, or a service."""
    return copay.detail(await _visible(session, p, copayment_id))


@router.get(
    "/copayments/{copayment_id}/client-secret", response_model=CopaymentDetail, responses=ERRORS
)
async def copayment_client_secret(
    copayment_id: uuid.UUID, request: Request, db: DatabaseDep, p: Principal = FAMILY
) -> CopaymentDetail:
    """The PaymentIntent's `client_secret` for the family's payment page (Stripe.js
    `confirmCardPayment`). Only the person or their live proxy, only while it waits for an
    online payment (409 COPAYMENT_NOT_PAYABLE: paid, cash, or the redemption voided)."""
    async with db.unit_of_work() as session:
        view = await _visible(session, p, copayment_id)
    return await copay.client_secret(db, gateway(request), view)


@router.post("/copayments/{copayment_id}/sync", response_model=CopaymentDetail, responses=ERRORS)
async def sync_copayment(
    copayment_id: uuid.UUID, request: Request, db: DatabaseDep, p: Principal = FAMILY_OR_PROVIDER
) -> CopaymentDetail:
    """Re-read the PaymentIntent from Stripe and record the payment if Stripe says it
    succeeded — what the webhook does, for when it is late or lost; also resends refunds
    Stripe has not confirmed yet. Idempotent: money is recorded once however often it runs
    and however it races the webhook."""
    async with db.unit_of_work() as session:
        view = await _visible(session, p, copayment_id)
    return await copay.sync(db, gateway(request), view.copayment.id)


@router.post("/stripe/webhook", response_model=WebhookAnswer, response_model_exclude_none=True)
async def stripe_webhook(request: Request, db: DatabaseDep) -> WebhookAnswer:
    """Stripe's events. Authenticated by the `Stripe-Signature` header (HMAC with our
    webhook secret) instead of a bearer token; a bad signature is 400 INVALID_SIGNATURE."""
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload,
            request.headers.get("stripe-signature", ""),
            request.app.state.settings.stripe_webhook_secret,
        )
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise InvalidSignature(field="stripe-signature") from exc
    return await copay.on_webhook(db, gateway(request), event.to_dict())
