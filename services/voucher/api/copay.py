"""Routes: co-payments (online through Stripe, or cash), the family's payment of them, the
Stripe webhook and the sync that stands in for a lost webhook (docs/copayments.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import Principal, Role, require
from services.common.errors import AppError
from services.voucher.api.deps import RawPoolDep, ensure_acts_for
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


class CopayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Annotated[str, Field(pattern="^(stripe|cash)$")]


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Annotated[int, Field(strict=True, gt=0)] | None = None
    idempotency_key: Annotated[str, Field(min_length=8, max_length=200)]


def gateway(request: Request) -> copay.StripeGateway:
    return gateway_of(request.app)


def gateway_of(app: Any) -> copay.StripeGateway:
    gw = getattr(app.state, "stripe_gateway", None)
    if gw is None:
        s = app.state.settings
        gw = app.state.stripe_gateway = copay.StripeGateway(s.stripe_secret_key, s.stripe_api_base)
    return gw


def _provider(p: Principal) -> str:
    if not p.provider_id:
        raise AppError(
            "No provider in scope.", code="OUT_OF_SCOPE", field="provider_id", status_code=403
        )
    return p.provider_id


async def _visible(pool: Any, p: Principal, copayment_id: uuid.UUID) -> Any:
    """The co-payment, if this caller may see it: the person it was for (or their live
    proxy), its provider's side, or a service."""
    c = await copay.get(pool, copayment_id)
    if p.role in (Role.beneficiary, Role.proxy):
        await ensure_acts_for(pool, p, c["beneficiary_id"])
    elif p.role != Role.service and c["provider_id"] != _provider(p):
        raise copay.CopayNotFound(field="copayment_id")
    return c


@router.post("/redemptions/{redemption_id}/copayment")
async def start_copayment(
    redemption_id: uuid.UUID,
    body: CopayCreate,
    request: Request,
    pool: RawPoolDep,
    p: Principal = PROVIDER_SIDE,
) -> dict[str, Any]:
    """Open the co-payment of a redemption of your provider: `stripe` creates a
    PaymentIntent (metadata `redemption_id`; `client_secret` for the family's payment page),
    `cash` records cash taken at the counter. One per redemption: asking again answers the
    same co-payment."""
    return await copay.start(
        pool,
        gateway(request),
        redemption_id,
        provider_id=_provider(p),
        method=body.method,
        actor=p.sub,
    )


@router.post(
    "/copayments/{copayment_id}/refund",
    responses={
        202: {"description": "Recorded; Stripe did not answer, it is retried"},
        409: {"description": "REFUND_EXCEEDS_CAPTURED, IDEMPOTENCY_KEY_REUSED"},
    },
)
async def refund_copayment(
    copayment_id: uuid.UUID,
    body: RefundCreate,
    request: Request,
    pool: RawPoolDep,
    p: Principal = PROVIDER_ADMIN,
) -> Any:
    """Refund part (`amount_fen`) or all of a co-payment of your provider; never more than
    captured minus refunded and already promised (409 REFUND_EXCEEDS_CAPTURED). Idempotent
    by `idempotency_key` within the co-payment (another co-payment may use the same key). 200 when refunded; 202 when recorded but Stripe did not answer:
    the refund is retried until Stripe confirms it (`refund_pending_fen`)."""
    body_out, done = await copay_refund.request(
        pool,
        gateway(request),
        copayment_id,
        provider_id=_provider(p),
        amount_fen=body.amount_fen,
        idempotency_key=f"refund:{copayment_id}:{body.idempotency_key}",
    )
    return body_out if done else JSONResponse(body_out, status_code=202)


@router.get("/beneficiaries/{beneficiary_id}/copayments", responses=ERRORS)
async def due_copayments(
    beneficiary_id: uuid.UUID, pool: RawPoolDep, p: Principal = FAMILY
) -> list[dict[str, Any]]:
    """The person's online co-payments waiting to be paid (the person, or a proxy whose
    authorisation is live): amount, provider, service, when. Voided ones are not listed."""
    await ensure_acts_for(pool, p, beneficiary_id)
    return await copay.due(pool, beneficiary_id)


@router.get("/copayments/{copayment_id}", responses=ERRORS)
async def read_copayment(
    copayment_id: uuid.UUID, pool: RawPoolDep, p: Principal = FAMILY_OR_PROVIDER
) -> dict[str, Any]:
    """One co-payment and its status (`open`, `succeeded`, `refunded`): for the person it
    was for (or their live proxy), its provider, or a service."""
    return copay.read(await _visible(pool, p, copayment_id))


@router.get("/copayments/{copayment_id}/client-secret", responses=ERRORS)
async def copayment_client_secret(
    copayment_id: uuid.UUID, request: Request, pool: RawPoolDep, p: Principal = FAMILY
) -> dict[str, Any]:
    """The PaymentIntent's `client_secret` for the family's payment page (Stripe.js
    `confirmCardPayment`). Only the person or their live proxy, only while it waits for an
    online payment (409 COPAYMENT_NOT_PAYABLE: paid, cash, or the redemption voided)."""
    c = await _visible(pool, p, copayment_id)
    return await copay.client_secret(pool, gateway(request), c)


@router.post("/copayments/{copayment_id}/sync", responses=ERRORS)
async def sync_copayment(
    copayment_id: uuid.UUID, request: Request, pool: RawPoolDep, p: Principal = FAMILY_OR_PROVIDER
) -> dict[str, Any]:
    """Re-read the PaymentIntent from Stripe and record the payment if Stripe says it
    succeeded — what the webhook does, for when it is late or lost; also resends refunds
    Stripe has not confirmed yet. Idempotent: money is recorded once however often it runs
    and however it races the webhook."""
    c = await _visible(pool, p, copayment_id)
    return await copay.sync(pool, gateway(request), c["id"])


@router.post("/stripe/webhook")
async def stripe_webhook(request: Request, pool: RawPoolDep) -> dict[str, Any]:
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
        raise AppError(
            "The webhook signature is not valid.",
            code="INVALID_SIGNATURE",
            field="stripe-signature",
            status_code=400,
        ) from exc
    return await copay.on_webhook(pool, gateway(request), event.to_dict())
