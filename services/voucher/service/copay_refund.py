"""Refunds of co-payments: durable, retried, exactly once (docs/copayments.md).

Rules:
- A refund is first a `copay_refund` row, written in the same transaction as its cause: a
  provider's request (key `refund:<their key>`), a void (`void:<redemption_id>`, whatever is
  left), or a payment captured after its redemption was voided (`void:<redemption_id>`,
  reason `late_capture`). So a void that committed has its refund on record, even if Stripe
  is down at that moment.
- Never more than captured: refunded + promised (`refund_pending_fen`) <= captured, checked
  here and by a CHECK in the database.
- Cash is given back at the counter: the row is `succeeded` at once and the ledger is not
  told (it never received the cash either: see service/copay.py).
- Online: after commit the refund is sent to Stripe (`process`), under a lease so that one
  worker at a time tries it, with the Stripe idempotency key `copay_refund:<key>` and the key
  in the refund's metadata. A retry first looks for a refund carrying that metadata, so a
  crash between Stripe's answer and our commit never refunds twice. When Stripe confirms,
  the row is `succeeded`, the amount moves from pending to refunded and `copay.refunded`
  goes to the outbox, in one transaction (copayment then copay_refund: see the lock order
  in service/copay.py). If Stripe does not answer, the row stays pending with a growing
  delay; `retry_due` (the service's retry loop, every YIYANG_VOUCHER_COPAY_RETRY_INTERVAL_S)
  sends it again.

This is the lower layer of co-payments: service/copay.py (opening, capture, webhook, sync)
uses it; it uses nothing of copay.py.
"""

from __future__ import annotations

import logging
import uuid
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.errors import IdempotencyKeyReused
from services.voucher.clients import StripeGateway
from services.voucher.errors import CopayNotFound, RefundTooLarge, StripeRefused, StripeUnavailable
from services.voucher.models import Copayment
from services.voucher.repository import copay as repo
from services.voucher.repository import outbox as outbox_repo
from services.voucher.schemas.copay import CopaymentRead, copayment_read

log = logging.getLogger("yiyang.voucher.copay")
LEASE_S = 60.0  # > clients.STRIPE_TIMEOUT_S: a call ends before another worker may retry
METADATA_KEY = "copay_refund_key"


MAX_ATTEMPTS_DELAY = 99  # retry_delay_s of this: the longest wait


class CopayEvent(TypedDict):
    """The body of a `copay.received` / `copay.refunded` ledger event."""

    program_code: str
    region_code: str
    budget_region_code: str
    period: str
    funding_shares: dict[str, int]
    copayment_id: str
    redemption_id: str
    voucher_id: str
    beneficiary_id: str
    provider_id: str
    method: str
    amount_fen: int


def event_payload(r: repo.EventSource, c: Copayment, amount_fen: int) -> CopayEvent:
    """The body of a `copay.*` ledger event."""
    return CopayEvent(
        program_code=r.program_code,
        region_code=r.region_code,
        budget_region_code=r.budget_region_code,
        period=r.period,
        funding_shares=r.funding_shares,
        copayment_id=str(c.id),
        redemption_id=str(r.id),
        voucher_id=str(r.voucher_id),
        beneficiary_id=str(r.beneficiary_id),
        provider_id=r.provider_id,
        method=c.method,
        amount_fen=amount_fen,
    )


def retry_delay_s(attempts: int) -> float:
    """Wait before the next attempt: 5 s doubling, at most 10 minutes."""
    return float(min(600, 5 * 2 ** max(0, attempts - 1)))


async def reserve(
    session: AsyncSession,
    redemption_id: uuid.UUID,
    copayment_id: uuid.UUID,
    *,
    key: str,
    amount_fen: int | None,
    reason: str,
) -> str | None:
    """Record a refund (None amount: all that is left) of a co-payment whose redemption and
    co-payment rows the caller has locked, in that order. Returns the key when Stripe still
    has to make it, None when nothing is left to send (nothing to refund, or cash)."""
    await repo.lock_redemption(session, redemption_id)  # already held: no new wait
    c = await repo.by_id(session, copayment_id)
    if c is None:
        raise CopayNotFound(field="copayment_id")
    left = c.captured_fen - c.refunded_fen - c.refund_pending_fen
    amount = left if amount_fen is None else amount_fen
    if amount > left:
        raise RefundTooLarge(field="amount_fen", details={"refundable_fen": left})
    if amount <= 0:
        return None
    if c.method == "cash":
        await repo.record_refund(session, key, c.id, amount, status="succeeded", reason=reason)
        await repo.add_refund(session, c.id, amount)
        return None
    await repo.record_refund(session, key, c.id, amount, status="pending", reason=reason)
    await repo.add_pending_refund(session, c.id, amount)
    return key


async def reserve_for_void(session: AsyncSession, redemption_id: uuid.UUID) -> str | None:
    """(Inside the void's transaction, redemption and voucher already locked.) Promise the
    refund of whatever the co-payment has left; a retried void promises nothing more."""
    c = await repo.by_redemption(session, redemption_id, lock=True)
    if c is None or await repo.refund_by_key(session, f"void:{redemption_id}") is not None:
        return None
    return await reserve(
        session, redemption_id, c.id, key=f"void:{redemption_id}", amount_fen=None, reason="void"
    )


async def request(
    db: Database,
    gateway: StripeGateway,
    copayment_id: uuid.UUID,
    *,
    provider_id: str,
    amount_fen: int | None,
    idempotency_key: str,
) -> tuple[CopaymentRead, bool]:
    """A provider refunds part or all of a co-payment. The same key and amount answer the
    same and refund nothing more; another amount (or co-payment) under the key is
    IDEMPOTENCY_KEY_REUSED. Returns the co-payment and whether the refund is done (False:
    recorded, Stripe will be asked again until it confirms)."""
    async with db.unit_of_work() as session:
        c0 = await repo.by_id(session, copayment_id, lock=False)
        if c0 is None or c0.provider_id != provider_id:
            raise CopayNotFound(field="copayment_id")
        await repo.lock_redemption(session, c0.redemption_id)
        await repo.by_id(session, copayment_id)
        seen = await repo.refund_by_key(session, idempotency_key)
        if seen is not None:
            if seen.copayment_id != copayment_id or (
                amount_fen is not None and seen.amount_fen != amount_fen
            ):
                raise IdempotencyKeyReused(
                    "This idempotency key was used for another refund.", field="idempotency_key"
                )
            todo = idempotency_key if seen.status == "pending" else None
        else:
            todo = await reserve(
                session,
                c0.redemption_id,
                copayment_id,
                key=idempotency_key,
                amount_fen=amount_fen,
                reason="request",
            )
    done = True
    if todo is not None:
        done = await try_process(db, gateway, todo) == "succeeded"
    async with db.unit_of_work() as session:
        c = await repo.by_id(session, copayment_id, lock=False)
    if c is None:  # pragma: no cover - a co-payment is never deleted
        raise CopayNotFound(field="copayment_id")
    return copayment_read(c), done


async def _refund_failed(db: Database, key: str, retry_in_s: float, error: str) -> None:
    async with db.unit_of_work() as session:
        await repo.refund_failed(session, key, retry_in_s, error)


async def process(db: Database, gateway: StripeGateway, key: str) -> str:
    """One attempt at Stripe for a pending refund: 'succeeded' (only once Stripe says the
    refund succeeded), 'pending' (another worker holds it, it is not due, or Stripe's refund
    is itself pending or failed) — or StripeUnavailable, the refund staying pending."""
    async with db.unit_of_work() as session:
        lease = await repo.lease_refund(session, key, LEASE_S)
    if lease is None:
        async with db.unit_of_work() as session:
            row = await repo.refund_by_key(session, key)
        return row.status if row is not None else "missing"
    pi = lease.stripe_payment_intent_id or ""
    try:
        refund = None
        if lease.attempts > 1:
            refund = await gateway.find_refund(pi, METADATA_KEY, key)
        if refund is None:
            refund = await gateway.refund(
                pi, lease.amount_fen, f"copay_refund:{key}", metadata={METADATA_KEY: key}
            )
    except StripeUnavailable as exc:
        cause = exc.__cause__
        await _refund_failed(db, key, retry_delay_s(lease.attempts), type(cause or exc).__name__)
        raise
    except StripeRefused as exc:
        # Stripe said no (the intent is gone, disputed, refunded in its dashboard): not
        # retried soon, kept pending with the reason and logged for a person.
        stripe_code = (exc.details or {}).get("stripe_code")
        log.error("co-payment refund refused by Stripe (%s); needs a person", stripe_code)
        await _refund_failed(
            db, key, retry_delay_s(MAX_ATTEMPTS_DELAY), f"STRIPE_REFUSED: {stripe_code}"
        )
        return "pending"
    status = getattr(refund, "status", None) or "unknown"
    if status != "succeeded":
        # Stripe has it but has not paid it out (pending), or gave up (failed, canceled):
        # nothing is recorded as refunded and no ledger event is written. A pending one is
        # looked at again later (found by its metadata); a failed one stays pending with
        # its error for a person to act on.
        log.log(
            logging.INFO if status == "pending" else logging.ERROR,
            "co-payment refund %s at Stripe is %s",
            refund.id,
            status,
        )
        await _refund_failed(
            db, key, retry_delay_s(lease.attempts), f"STRIPE_REFUND_{status.upper()}"
        )
        return "pending"
    async with db.unit_of_work() as session:
        c = await repo.by_id(session, lease.copayment_id)
        row = await repo.refund_by_key(session, key, lock=True)
        if c is not None and row is not None and row.status == "pending":
            await repo.complete_refund(session, key, refund.id)
            await repo.add_refund(session, c.id, row.amount_fen, from_pending=True)
            r = await repo.payload_source(session, c.redemption_id)
            if r is not None:
                await outbox_repo.enqueue(
                    session, "copay.refunded", event_payload(r, c, row.amount_fen)
                )
    return "succeeded"


async def try_process(db: Database, gateway: StripeGateway, key: str) -> str:
    """`process`, with Stripe's silence recorded and left to the retry loop."""
    try:
        return await process(db, gateway, key)
    except StripeUnavailable:
        log.warning("co-payment refund pending: Stripe did not answer; will retry")
        return "pending"


async def process_for_copayment(
    db: Database, gateway: StripeGateway, copayment_id: uuid.UUID
) -> None:
    async with db.unit_of_work() as session:
        keys = await repo.pending_refund_keys(session, limit=100, copayment_id=copayment_id)
    for key in keys:
        await try_process(db, gateway, key)


async def process_for_redemption(
    db: Database, gateway: StripeGateway, redemption_id: uuid.UUID
) -> None:
    """After a void commits: send its refund to Stripe now if Stripe answers."""
    async with db.unit_of_work() as session:
        c = await repo.by_redemption(session, redemption_id)
    if c is not None:
        await process_for_copayment(db, gateway, c.id)


async def retry_due(db: Database, gateway: StripeGateway, limit: int = 100) -> int:
    """Send every pending refund that is due; how many Stripe confirmed."""
    async with db.unit_of_work() as session:
        keys = await repo.pending_refund_keys(session, limit=limit)
    done = 0
    for key in keys:
        done += await try_process(db, gateway, key) == "succeeded"
    return done
