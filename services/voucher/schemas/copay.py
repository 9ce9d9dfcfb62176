"""Shapes of co-payments, their refunds and the Stripe webhook's answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.voucher.models import Copayment


class CopayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Annotated[str, Field(pattern="^(stripe|cash)$")]


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Annotated[int, Field(strict=True, gt=0)] | None = None
    idempotency_key: Annotated[str, Field(min_length=8, max_length=200)]


class CopaymentRead(BaseModel):
    id: str
    redemption_id: str
    provider_id: str
    method: str
    amount_fen: int
    captured_fen: int
    refunded_fen: int
    refund_pending_fen: int
    status: str
    payment_intent_id: str | None
    # The PaymentIntent's secret for the family's payment page: read from Stripe, never stored.
    client_secret: str | None = None


class CopaymentDetail(CopaymentRead):
    """A co-payment with whose it is and what it was for (for the family and the staff)."""

    beneficiary_id: str
    service_code: str
    gross_fen: int
    redemption_status: str
    created_at: str  # ISO 8601 with its offset, as the database gave it


class WebhookAnswer(BaseModel):
    """What a Stripe event did: nothing again (`duplicate`), nothing (`ignored`), or the
    co-payment it captured."""

    received: bool = True
    duplicate: bool | None = None
    ignored: bool | None = None
    copayment_id: str | None = None
    captured_fen: int | None = None


def copayment_read(c: Copayment, client_secret: str | None = None) -> CopaymentRead:
    return CopaymentRead(**_fields(c), client_secret=client_secret)


def copayment_detail(
    c: Copayment,
    *,
    beneficiary_id: uuid.UUID,
    service_code: str,
    gross_fen: int,
    redemption_status: str,
    client_secret: str | None = None,
) -> CopaymentDetail:
    return CopaymentDetail(
        **_fields(c),
        client_secret=client_secret,
        beneficiary_id=str(beneficiary_id),
        service_code=service_code,
        gross_fen=gross_fen,
        redemption_status=redemption_status,
        created_at=c.created_at.isoformat(),
    )


def _fields(c: Copayment) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "redemption_id": str(c.redemption_id),
        "provider_id": c.provider_id,
        "method": c.method,
        "amount_fen": c.amount_fen,
        "captured_fen": c.captured_fen,
        "refunded_fen": c.refunded_fen,
        "refund_pending_fen": c.refund_pending_fen,
        "status": c.status,
        "payment_intent_id": c.stripe_payment_intent_id,
    }
