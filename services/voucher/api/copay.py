"""Routes: co-payments (online through Stripe, or cash) and the Stripe webhook."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import Principal, Role, require
from services.common.errors import AppError
from services.voucher.api.deps import RawPoolDep
from services.voucher.service import copay

router = APIRouter(tags=["copayments"])
PROVIDER_SIDE = require(Role.terminal, Role.provider_admin, Role.provider_staff)
PROVIDER_ADMIN = require(Role.provider_admin)


class CopayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Annotated[str, Field(pattern="^(stripe|cash)$")]


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Annotated[int, Field(strict=True, gt=0)] | None = None
    idempotency_key: Annotated[str, Field(min_length=8, max_length=200)]


def gateway(request: Request) -> copay.StripeGateway:
    gw = getattr(request.app.state, "stripe_gateway", None)
    if gw is None:
        s = request.app.state.settings
        gw = request.app.state.stripe_gateway = copay.StripeGateway(s.stripe_secret_key,
                                                                    s.stripe_api_base)
    return gw


def _provider(p: Principal) -> str:
    if not p.provider_id:
        raise AppError("No provider in scope.", code="OUT_OF_SCOPE", field="provider_id",
                       status_code=403)
    return p.provider_id


@router.post("/redemptions/{redemption_id}/copayment")
async def start_copayment(redemption_id: uuid.UUID, body: CopayCreate, request: Request,
                          pool: RawPoolDep, p: Principal = PROVIDER_SIDE) -> dict[str, Any]:
    """Open the co-payment of a redemption of your provider: `stripe` creates a
    PaymentIntent (metadata `redemption_id`; `client_secret` for the family's payment page),
    `cash` records cash taken at the counter. One per redemption: asking again answers the
    same co-payment."""
    return await copay.start(pool, gateway(request), redemption_id, provider_id=_provider(p),
                             method=body.method, actor=p.sub)


@router.post("/copayments/{copayment_id}/refund")
async def refund_copayment(copayment_id: uuid.UUID, body: RefundCreate, request: Request,
                           pool: RawPoolDep,
                           p: Principal = PROVIDER_ADMIN) -> dict[str, Any]:
    """Refund part (`amount_fen`) or all of a co-payment of your provider; never more than
    captured minus already refunded (409 REFUND_EXCEEDS_CAPTURED). Idempotent by
    `idempotency_key`."""
    return await copay.refund(pool, gateway(request), copayment_id, provider_id=_provider(p),
                              amount_fen=body.amount_fen,
                              idempotency_key=f"refund:{body.idempotency_key}")


@router.post("/stripe/webhook")
async def stripe_webhook(request: Request, pool: RawPoolDep) -> dict[str, Any]:
    """Stripe's events. Authenticated by the `Stripe-Signature` header (HMAC with our
    webhook secret) instead of a bearer token; a bad signature is 400 INVALID_SIGNATURE."""
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("stripe-signature", ""),
            request.app.state.settings.stripe_webhook_secret)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise AppError("The webhook signature is not valid.", code="INVALID_SIGNATURE",
                       field="stripe-signature", status_code=400) from exc
    return await copay.on_webhook(pool, event.to_dict())
