"""Co-payments: the part of a bill the voucher does not cover (docs/copayments.md).

Rules:
- One co-payment per redemption, for exactly its `copay_fen`, by the redemption's provider.
  Online: a Stripe PaymentIntent (metadata `redemption_id`) created under our own stored
  idempotency key `copay:<redemption_id>` while the redemption row is locked, so concurrent
  requests cannot create two intents (the local fake ignores keys). Cash: the provider
  records it and it is captured at once.
- Cash is not the department's money: the provider took it at the counter, so the ledger is
  not told (no `copay.received`, nor `copay.refunded` for a cash refund). The fact stays on
  record here: the co-payment row (method `cash`, who recorded it, when) and the redemption
  (gross = subsidy + co-payment, also in its `redemption.created` event). See
  docs/copayments.md, "Cash co-payments and the books".
- Online, captured once: by Stripe's webhook (signature verified, each event id applied
  once) or by `sync`, which re-reads the PaymentIntent from Stripe (the family's return step,
  the retry loop; the fallback for a lost webhook). Either writes `copay.received` to the
  outbox (ledger: co-payment clearing Dr / provider payable Cr). A payment captured after
  its redemption was voided is refunded in full (service/copay_refund.py).
- Refunds: service/copay_refund.py (durable, retried, never more than captured).

Lock order — one and the same everywhere, so that no two transactions can wait on each other
in a cycle (a void, a start, a capture and a refund of the same redemption only queue):

  1. stripe_webhook_event  the webhook's claim on its event id (only a duplicate delivery of
                           the same event ever waits on it)
  2. redemption            FOR UPDATE (start, capture, refund request, void)
  3. voucher               the void gives the subsidy back
  4. copayment             FOR UPDATE
  5. copay_refund          the refund row

A path that begins from a co-payment or a PaymentIntent id reads that row without a lock to
learn its redemption, locks the redemption, then locks the co-payment and checks again. The
refund worker locks only 4 then 5 (it never holds a redemption). Calls to Stripe are made
under a redemption lock only by `start` (to keep one intent per redemption); refunds call
Stripe after commit, holding no row lock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.errors import IdempotencyKeyReused, NotFound
from services.common.ids import new_uuid
from services.voucher.clients import StripeGateway
from services.voucher.errors import CopayNotFound, NothingToPay, NotPayable, StripeRefused
from services.voucher.repository import copay as repo
from services.voucher.repository import outbox as outbox_repo
from services.voucher.schemas.copay import (
    CopaymentDetail,
    CopaymentRead,
    WebhookAnswer,
    copayment_detail,
    copayment_read,
)
from services.voucher.service import copay_refund

log = logging.getLogger("yiyang.voucher.copay")


def detail(view: repo.CopaymentView, client_secret: str | None = None) -> CopaymentDetail:
    return copayment_detail(
        view.copayment,
        beneficiary_id=view.beneficiary_id,
        service_code=view.service_code,
        gross_fen=view.gross_fen,
        redemption_status=view.redemption_status,
        client_secret=client_secret,
    )


async def start(
    session: AsyncSession,
    gateway: StripeGateway,
    redemption_id: uuid.UUID,
    *,
    provider_id: str,
    method: str,
    actor: str,
) -> CopaymentRead:
    """Open the co-payment of a redemption (idempotent: one per redemption)."""
    r = await repo.lock_redemption(session, redemption_id)
    if r is None or r.provider_id != provider_id:
        raise NotFound("No such redemption.", field="redemption_id")
    c = await repo.by_redemption(session, redemption_id, lock=True)
    if c is None:
        if r.status == "voided" or r.copay_fen <= 0:
            raise NothingToPay(field="redemption_id")
        await repo.insert(  # cash: nothing for the ledger (docstring)
            session,
            id=new_uuid(),
            redemption_id=redemption_id,
            provider_id=provider_id,
            method=method,
            amount_fen=r.copay_fen,
            captured_fen=r.copay_fen if method == "cash" else 0,
            status="succeeded" if method == "cash" else "open",
            stripe_idempotency_key=f"copay:{redemption_id}",
            created_by=actor,
        )
        c = await repo.by_redemption(session, redemption_id, lock=True)
    if c is None:  # pragma: no cover - inserted just above
        raise CopayNotFound(field="redemption_id")
    if c.method != method:
        raise IdempotencyKeyReused(
            "This co-payment was opened with another method.", field="method"
        )
    secret = None
    if c.method == "stripe":
        if c.stripe_payment_intent_id is None:
            intent = await gateway.create_intent(
                c.amount_fen, str(redemption_id), c.stripe_idempotency_key
            )
            await repo.set_payment_intent(session, c.id, intent.id)
            c = await repo.by_redemption(session, redemption_id) or c
        else:
            intent = await gateway.retrieve_intent(c.stripe_payment_intent_id)
        secret = intent.client_secret
    return copayment_read(c, secret)


@dataclass(frozen=True, slots=True)
class Captured:
    copayment_id: uuid.UUID
    captured_fen: int
    refund_key: str | None  # a refund to send: the payment came after a void


async def _capture(
    session: AsyncSession,
    copayment_id: uuid.UUID,
    redemption_id: uuid.UUID,
    amount_received: int,
) -> Captured | None:
    """Mark an open online co-payment paid and tell the ledger; None when it was not open.
    The caller owns the transaction. Paid after a void: the whole of it goes back."""
    r = await repo.lock_redemption(session, redemption_id)
    c = await repo.by_id(session, copayment_id)
    if r is None or c is None or c.status != "open":
        return None
    captured = min(amount_received, c.amount_fen)
    await repo.set_captured(session, c.id, captured)
    await outbox_repo.enqueue(session, "copay.received", copay_refund.event_payload(r, c, captured))
    refund_key = None
    if r.status == "voided":
        refund_key = await copay_refund.reserve(
            session,
            redemption_id,
            copayment_id,
            key=f"void:{redemption_id}",
            amount_fen=None,
            reason="late_capture",
        )
    return Captured(c.id, captured, refund_key)


async def on_webhook(
    db: Database, gateway: StripeGateway, event: Mapping[str, Any]
) -> WebhookAnswer:
    """Apply a verified Stripe event (its JSON) once (by its id)."""
    async with db.unit_of_work() as session:
        if not await repo.first_webhook(session, event["id"], event["type"]):
            return WebhookAnswer(duplicate=True)
        if event["type"] != "payment_intent.succeeded":
            return WebhookAnswer(ignored=True)
        obj = event["data"]["object"]
        c0 = await repo.by_payment_intent(session, obj["id"])
        done = None
        if c0 is not None:
            done = await _capture(
                session,
                c0.id,
                c0.redemption_id,
                int(obj.get("amount_received") or obj["amount"]),
            )
    if done is None:
        return WebhookAnswer(ignored=True)
    if done.refund_key:
        await copay_refund.try_process(db, gateway, done.refund_key)
    return WebhookAnswer(copayment_id=str(done.copayment_id), captured_fen=done.captured_fen)


async def sync(db: Database, gateway: StripeGateway, copayment_id: uuid.UUID) -> CopaymentDetail:
    """Re-read an online co-payment's PaymentIntent from Stripe and capture it if Stripe
    says it succeeded (what the webhook would have done; idempotent: a co-payment is
    captured once, however many syncs and webhooks race). Also retries its pending refunds."""
    async with db.unit_of_work() as session:
        c = await repo.by_id(session, copayment_id, lock=False)
    if c is None:
        raise CopayNotFound(field="copayment_id")
    done = None
    if c.status == "open" and c.stripe_payment_intent_id:
        intent = await gateway.retrieve_intent(c.stripe_payment_intent_id)
        async with db.unit_of_work() as session:
            if intent.status == "succeeded":
                received = int(getattr(intent, "amount_received", 0) or intent.amount)
                done = await _capture(session, c.id, c.redemption_id, received)
            await repo.mark_synced(session, c.id)  # after _capture's locks (lock order)
    if done is not None and done.refund_key:
        await copay_refund.try_process(db, gateway, done.refund_key)
    await copay_refund.process_for_copayment(db, gateway, c.id)
    async with db.unit_of_work() as session:
        view = await repo.with_redemption(session, c.id)
    if view is None:  # pragma: no cover - a co-payment is never deleted
        raise CopayNotFound(field="copayment_id")
    return detail(view)


async def get(session: AsyncSession, copayment_id: uuid.UUID) -> repo.CopaymentView:
    view = await repo.with_redemption(session, copayment_id)
    if view is None:
        raise CopayNotFound(field="copayment_id")
    return view


async def due(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[CopaymentDetail]:
    """The person's online co-payments waiting to be paid."""
    return [detail(v) for v in await repo.due_for_beneficiary(session, beneficiary_id)]


async def client_secret(
    db: Database, gateway: StripeGateway, view: repo.CopaymentView
) -> CopaymentDetail:
    """The PaymentIntent's client_secret for the family's payment page (read from Stripe
    each time, never stored); only while the co-payment waits for an online payment."""
    c = view.copayment
    if (
        c.method != "stripe"
        or c.status != "open"
        or view.redemption_status == "voided"
        or not c.stripe_payment_intent_id
    ):
        raise NotPayable(field="copayment_id")
    intent = await gateway.retrieve_intent(c.stripe_payment_intent_id)
    if intent.status == "succeeded":  # paid, the webhook not here yet: record it now
        return await sync(db, gateway, c.id)
    return detail(view, intent.client_secret)


async def sync_open(
    db: Database,
    gateway: StripeGateway,
    *,
    older_than_s: float = 120,
    every_s: float = 300,
    limit: int = 50,
) -> int:
    """Sync open online co-payments whose webhook may have been lost; how many captured."""
    async with db.unit_of_work() as session:
        ids = await repo.open_to_sync(
            session, older_than_s=older_than_s, every_s=every_s, limit=limit
        )
    captured = 0
    for copayment_id in ids:
        try:
            after = await sync(db, gateway, copayment_id)
        except StripeRefused as exc:  # this one needs a person; the others go on
            log.error(
                "co-payment %s: Stripe refused the sync (%s)",
                copayment_id,
                (exc.details or {}).get("stripe_code"),
            )
            continue
        captured += after.status != "open"
    return captured
