"""Co-payments: the part of a bill the voucher does not cover.

Rules (docs/settlement.md, "Co-payments"):
- One co-payment per redemption, for exactly its `copay_fen`, by the redemption's provider.
  Online: a Stripe PaymentIntent (metadata `redemption_id`) created under our own stored
  idempotency key `copay:<redemption_id>`; the redemption row is locked while it is created,
  so concurrent requests cannot create two intents (the local fake ignores keys). Cash: the
  provider records it and it is captured at once.
- A Stripe webhook is accepted only with a valid signature (our webhook secret); each event
  id is applied once. `payment_intent.succeeded` captures the co-payment and writes
  `copay.received` to the outbox (ledger: co-payment clearing Dr / provider payable Cr).
- A refund is never more than captured minus already refunded (checked here, and by a CHECK
  in the database); a void refunds whatever is left and writes `copay.refunded`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson
import stripe

from services.common.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from services.common.ids import new_uuid
from services.voucher.repository import copay as repo


class CopayNotFound(NotFound):
    code = "COPAYMENT_NOT_FOUND"
    message = "No such co-payment."


class NothingToPay(InvalidInput):
    code = "NO_COPAYMENT_DUE"
    message = "This redemption has no co-payment to pay."


class RefundTooLarge(Conflict):
    code = "REFUND_EXCEEDS_CAPTURED"
    message = "A refund cannot exceed what was captured and not yet refunded."


class StripeUnavailable(ServiceUnavailable):
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    message = "Stripe did not answer; retry."


class StripeGateway:
    """The Stripe calls we make (sync SDK run in a thread), against any api base."""

    def __init__(self, api_key: str, api_base: str) -> None:
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base})

    async def create_intent(self, amount_fen: int, redemption_id: str, key: str) -> Any:
        return await self._call(self.client.v1.payment_intents.create, params={
            "amount": amount_fen, "currency": "cny",
            "metadata": {"redemption_id": redemption_id},
            "payment_method_types": ["card"]}, options={"idempotency_key": key})

    async def retrieve_intent(self, pi: str) -> Any:
        return await self._call(self.client.v1.payment_intents.retrieve, pi)

    async def refund(self, pi: str, amount_fen: int, key: str) -> Any:
        return await self._call(self.client.v1.refunds.create, params={
            "payment_intent": pi, "amount": amount_fen}, options={"idempotency_key": key})

    @staticmethod
    async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except stripe.StripeError as exc:
            raise StripeUnavailable() from exc


def _payload(r: asyncpg.Record, c: dict[str, Any], amount: int) -> dict[str, Any]:
    return {"program_code": r["program_code"], "region_code": r["region_code"],
            "budget_region_code": r["budget_region_code"], "period": r["period"],
            "funding_shares": orjson.loads(r["funding_shares"]),
            "copayment_id": str(c["id"]), "redemption_id": str(r["id"]),
            "voucher_id": str(r["voucher_id"]), "beneficiary_id": str(r["beneficiary_id"]),
            "provider_id": r["provider_id"], "method": c["method"], "amount_fen": amount}


def _read(c: Any, client_secret: str | None = None) -> dict[str, Any]:
    return {"id": str(c["id"]), "redemption_id": str(c["redemption_id"]),
            "method": c["method"], "amount_fen": int(c["amount_fen"]),
            "captured_fen": int(c["captured_fen"]), "refunded_fen": int(c["refunded_fen"]),
            "status": c["status"], "payment_intent_id": c["stripe_payment_intent_id"],
            "client_secret": client_secret}


async def start(pool: asyncpg.Pool, gateway: StripeGateway, redemption_id: uuid.UUID, *,
                provider_id: str, method: str, actor: str) -> dict[str, Any]:
    """Open the co-payment of a redemption (idempotent: one per redemption)."""
    async with pool.acquire() as conn, conn.transaction():
        r = await repo.lock_redemption(conn, redemption_id)
        if r is None or r["provider_id"] != provider_id:
            raise NotFound("No such redemption.", field="redemption_id")
        c = await repo.by_redemption(conn, redemption_id)
        if c is None:
            if r["status"] == "voided" or r["copay_fen"] <= 0:
                raise NothingToPay(field="redemption_id")
            row = {"id": new_uuid(), "redemption_id": redemption_id, "provider_id": provider_id,
                   "method": method, "amount_fen": int(r["copay_fen"]),
                   "captured_fen": int(r["copay_fen"]) if method == "cash" else 0,
                   "status": "succeeded" if method == "cash" else "open",
                   "stripe_idempotency_key": f"copay:{redemption_id}", "created_by": actor}
            await repo.insert(conn, **row)
            if method == "cash":
                await repo.enqueue(conn, "copay.received", _payload(r, row, row["amount_fen"]))
            c = await repo.by_redemption(conn, redemption_id)
        if c["method"] != method:
            raise Conflict("This co-payment was opened with another method.",
                           code="IDEMPOTENCY_KEY_REUSED", field="method")
        secret = None
        if c["method"] == "stripe":
            if c["stripe_payment_intent_id"] is None:
                intent = await gateway.create_intent(int(c["amount_fen"]), str(redemption_id),
                                                     c["stripe_idempotency_key"])
                await repo.set_payment_intent(conn, c["id"], intent.id)
                c = await repo.by_redemption(conn, redemption_id)
            else:
                intent = await gateway.retrieve_intent(c["stripe_payment_intent_id"])
            secret = intent.client_secret
    return _read(c, secret)


async def on_webhook(pool: asyncpg.Pool, event: Any) -> dict[str, Any]:
    """Apply a verified Stripe event once (by its id)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await repo.first_webhook(conn, event["id"], event["type"]):
            return {"received": True, "duplicate": True}
        if event["type"] != "payment_intent.succeeded":
            return {"received": True, "ignored": True}
        obj = event["data"]["object"]
        c = await repo.by_payment_intent(conn, obj["id"])
        if c is None or c["status"] != "open":
            return {"received": True, "ignored": True}
        captured = min(int(obj.get("amount_received") or obj["amount"]), int(c["amount_fen"]))
        r = await repo.lock_redemption(conn, c["redemption_id"])
        await repo.set_captured(conn, c["id"], captured)
        await repo.enqueue(conn, "copay.received", _payload(r, c, captured))
    return {"received": True, "copayment_id": str(c["id"]), "captured_fen": captured}


async def refund(pool: asyncpg.Pool, gateway: StripeGateway, copayment_id: uuid.UUID | None,
                 *, redemption_id: uuid.UUID | None = None, provider_id: str | None,
                 amount_fen: int | None, idempotency_key: str | None = None
                 ) -> dict[str, Any] | None:
    """Refund part or all of what is left (None: all of it). Never more than captured minus
    refunded. With `redemption_id` (a void) and no co-payment, nothing happens. The same
    idempotency key and amount answer the same and refund nothing more; another amount under
    the key is IDEMPOTENCY_KEY_REUSED."""
    async with pool.acquire() as conn, conn.transaction():
        c = (await repo.by_id(conn, copayment_id) if copayment_id is not None
             else await repo.by_redemption(conn, redemption_id, lock=True))
        if c is None or (provider_id is not None and c["provider_id"] != provider_id):
            if copayment_id is None:
                return None
            raise CopayNotFound(field="copayment_id")
        if idempotency_key is not None:
            seen = await repo.refund_by_key(conn, idempotency_key)
            if seen is not None:
                if seen["copayment_id"] != c["id"] or (
                        amount_fen is not None and int(seen["amount_fen"]) != amount_fen):
                    raise Conflict("This idempotency key was used for another refund.",
                                   code="IDEMPOTENCY_KEY_REUSED", field="idempotency_key")
                return _read(c)
        left = int(c["captured_fen"]) - int(c["refunded_fen"])
        amount = left if amount_fen is None else amount_fen
        if amount > left:
            raise RefundTooLarge(field="amount_fen", details={"refundable_fen": left})
        if amount <= 0:
            return _read(c)
        if idempotency_key is not None:
            await repo.record_refund(conn, idempotency_key, c["id"], amount)
        if c["method"] == "stripe":
            done = int(c["refunded_fen"])
            await gateway.refund(c["stripe_payment_intent_id"], amount,
                                 f"refund:{c['id']}:{done}:{amount}")
        r = await repo.lock_redemption(conn, c["redemption_id"])
        await repo.add_refund(conn, c["id"], amount)
        await repo.enqueue(conn, "copay.refunded", _payload(r, c, amount))
        c = await repo.by_id(conn, c["id"])
    return _read(c)
