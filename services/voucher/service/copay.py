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

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import orjson
import stripe

from services.common.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from services.common.ids import new_uuid
from services.voucher.repository import copay as repo

log = logging.getLogger("yiyang.voucher.copay")


class CopayNotFound(NotFound):
    code = "COPAYMENT_NOT_FOUND"
    message = "No such co-payment."


class NothingToPay(InvalidInput):
    code = "NO_COPAYMENT_DUE"
    message = "This redemption has no co-payment to pay."


class NotPayable(Conflict):
    code = "COPAYMENT_NOT_PAYABLE"
    message = "This co-payment is not waiting for an online payment (paid, cash or voided)."


class RefundTooLarge(Conflict):
    code = "REFUND_EXCEEDS_CAPTURED"
    message = "A refund cannot exceed what was captured and not yet refunded."


class StripeUnavailable(ServiceUnavailable):
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    message = "Stripe did not answer; retry."


class StripeRefused(Conflict):
    """Stripe answered and said no (an invalid request, a declined card): asking again the
    same way will not help; a person has to look."""

    code = "PAYMENT_PROVIDER_REFUSED"
    message = "Stripe refused the request."


STRIPE_TIMEOUT_S = 20.0


class StripeGateway:
    """The Stripe calls we make (sync SDK run in a thread), against any api base."""

    def __init__(self, api_key: str, api_base: str) -> None:
        # A call gives up well before a refund's lease (copay_refund.LEASE_S) runs out, so
        # a refund is never being made by two workers at once.
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_S),
        )

    async def create_intent(self, amount_fen: int, redemption_id: str, key: str) -> Any:
        return await self._call(
            self.client.v1.payment_intents.create,
            params={
                "amount": amount_fen,
                "currency": "cny",
                "metadata": {"redemption_id": redemption_id},
                "payment_method_types": ["card"],
            },
            options={"idempotency_key": key},
        )

    async def retrieve_intent(self, pi: str) -> Any:
        return await self._call(self.client.v1.payment_intents.retrieve, pi)

    async def refund(
        self, pi: str, amount_fen: int, key: str, metadata: dict[str, str] | None = None
    ) -> Any:
        params: dict[str, Any] = {"payment_intent": pi, "amount": amount_fen}
        if metadata:
            params["metadata"] = metadata
        return await self._call(
            self.client.v1.refunds.create, params=params, options={"idempotency_key": key}
        )

    async def find_refund(self, pi: str, metadata_key: str, value: str) -> Any:
        """A refund of this PaymentIntent already made under our metadata (a retry after a
        crash or a lost answer must not refund twice, whatever Stripe does with keys)."""
        page = await self._call(
            self.client.v1.refunds.list, params={"payment_intent": pi, "limit": 100}
        )
        for refund in page.data:
            if (refund.to_dict().get("metadata") or {}).get(metadata_key) == value:
                return refund
        return None

    @staticmethod
    async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (stripe.InvalidRequestError, stripe.CardError) as exc:
            raise StripeRefused(details={"stripe_code": exc.code}) from exc
        except stripe.StripeError as exc:
            raise StripeUnavailable() from exc


def payload(r: asyncpg.Record, c: Any, amount: int) -> dict[str, Any]:
    """The body of a `copay.*` ledger event."""
    return {
        "program_code": r["program_code"],
        "region_code": r["region_code"],
        "budget_region_code": r["budget_region_code"],
        "period": r["period"],
        "funding_shares": orjson.loads(r["funding_shares"]),
        "copayment_id": str(c["id"]),
        "redemption_id": str(r["id"]),
        "voucher_id": str(r["voucher_id"]),
        "beneficiary_id": str(r["beneficiary_id"]),
        "provider_id": r["provider_id"],
        "method": c["method"],
        "amount_fen": amount,
    }


def read(c: Any, client_secret: str | None = None) -> dict[str, Any]:
    out = {
        "id": str(c["id"]),
        "redemption_id": str(c["redemption_id"]),
        "provider_id": c["provider_id"],
        "method": c["method"],
        "amount_fen": int(c["amount_fen"]),
        "captured_fen": int(c["captured_fen"]),
        "refunded_fen": int(c["refunded_fen"]),
        "refund_pending_fen": int(c["refund_pending_fen"]),
        "status": c["status"],
        "payment_intent_id": c["stripe_payment_intent_id"],
        "client_secret": client_secret,
    }
    if "service_code" in c.keys():  # noqa: SIM118 - asyncpg Record: `in` looks at values
        out.update(
            beneficiary_id=str(c["beneficiary_id"]),
            service_code=c["service_code"],
            gross_fen=int(c["gross_fen"]),
            redemption_status=c["redemption_status"],
            created_at=c["created_at"].isoformat(),
        )
    return out


async def start(
    pool: asyncpg.Pool,
    gateway: StripeGateway,
    redemption_id: uuid.UUID,
    *,
    provider_id: str,
    method: str,
    actor: str,
) -> dict[str, Any]:
    """Open the co-payment of a redemption (idempotent: one per redemption)."""
    async with pool.acquire() as conn, conn.transaction():
        r = await repo.lock_redemption(conn, redemption_id)
        if r is None or r["provider_id"] != provider_id:
            raise NotFound("No such redemption.", field="redemption_id")
        c = await repo.by_redemption(conn, redemption_id, lock=True)
        if c is None:
            if r["status"] == "voided" or r["copay_fen"] <= 0:
                raise NothingToPay(field="redemption_id")
            row = {
                "id": new_uuid(),
                "redemption_id": redemption_id,
                "provider_id": provider_id,
                "method": method,
                "amount_fen": int(r["copay_fen"]),
                "captured_fen": int(r["copay_fen"]) if method == "cash" else 0,
                "status": "succeeded" if method == "cash" else "open",
                "stripe_idempotency_key": f"copay:{redemption_id}",
                "created_by": actor,
            }
            await repo.insert(conn, **row)  # cash: nothing for the ledger (docstring)
            c = await repo.by_redemption(conn, redemption_id, lock=True)
        if c["method"] != method:
            raise Conflict(
                "This co-payment was opened with another method.",
                code="IDEMPOTENCY_KEY_REUSED",
                field="method",
            )
        secret = None
        if c["method"] == "stripe":
            if c["stripe_payment_intent_id"] is None:
                intent = await gateway.create_intent(
                    int(c["amount_fen"]), str(redemption_id), c["stripe_idempotency_key"]
                )
                await repo.set_payment_intent(conn, c["id"], intent.id)
                c = await repo.by_redemption(conn, redemption_id)
            else:
                intent = await gateway.retrieve_intent(c["stripe_payment_intent_id"])
            secret = intent.client_secret
    return read(c, secret)


async def _capture(
    conn: asyncpg.Connection, copayment_id: uuid.UUID, redemption_id: Any, amount_received: int
) -> dict[str, Any] | None:
    """Mark an open online co-payment paid and tell the ledger; None when it was not open.
    The caller owns the transaction. Paid after a void: the whole of it goes back."""
    from services.voucher.service import copay_refund

    r = await repo.lock_redemption(conn, redemption_id)
    c = await repo.by_id(conn, copayment_id)
    if c is None or c["status"] != "open":
        return None
    captured = min(int(amount_received), int(c["amount_fen"]))
    await repo.set_captured(conn, c["id"], captured)
    await repo.enqueue(conn, "copay.received", payload(r, c, captured))
    refund_key = None
    if r["status"] == "voided":
        refund_key = await copay_refund.reserve(
            conn,
            redemption_id,
            copayment_id,
            key=f"void:{redemption_id}",
            amount_fen=None,
            reason="late_capture",
        )
    return {"copayment_id": str(c["id"]), "captured_fen": captured, "refund_key": refund_key}


async def on_webhook(pool: asyncpg.Pool, gateway: StripeGateway, event: Any) -> dict[str, Any]:
    """Apply a verified Stripe event once (by its id)."""
    from services.voucher.service import copay_refund

    async with pool.acquire() as conn, conn.transaction():
        if not await repo.first_webhook(conn, event["id"], event["type"]):
            return {"received": True, "duplicate": True}
        if event["type"] != "payment_intent.succeeded":
            return {"received": True, "ignored": True}
        obj = event["data"]["object"]
        c0 = await repo.by_payment_intent(conn, obj["id"])
        done = None
        if c0 is not None:
            done = await _capture(
                conn,
                c0["id"],
                c0["redemption_id"],
                int(obj.get("amount_received") or obj["amount"]),
            )
    if done is None:
        return {"received": True, "ignored": True}
    if done["refund_key"]:
        await copay_refund.try_process(pool, gateway, done["refund_key"])
    return {
        "received": True,
        "copayment_id": done["copayment_id"],
        "captured_fen": done["captured_fen"],
    }


async def sync(
    pool: asyncpg.Pool, gateway: StripeGateway, copayment_id: uuid.UUID
) -> dict[str, Any]:
    """Re-read an online co-payment's PaymentIntent from Stripe and capture it if Stripe
    says it succeeded (what the webhook would have done; idempotent: a co-payment is
    captured once, however many syncs and webhooks race). Also retries its pending refunds."""
    from services.voucher.service import copay_refund

    async with pool.acquire() as conn:
        c = await repo.by_id(conn, copayment_id, lock=False)
    if c is None:
        raise CopayNotFound(field="copayment_id")
    done = None
    if c["status"] == "open" and c["stripe_payment_intent_id"]:
        intent = await gateway.retrieve_intent(c["stripe_payment_intent_id"])
        async with pool.acquire() as conn, conn.transaction():
            if intent.status == "succeeded":
                received = int(getattr(intent, "amount_received", 0) or intent.amount)
                done = await _capture(conn, c["id"], c["redemption_id"], received)
            await repo.mark_synced(conn, c["id"])  # after _capture's locks (lock order)
    if done is not None and done["refund_key"]:
        await copay_refund.try_process(pool, gateway, done["refund_key"])
    await copay_refund.process_for_copayment(pool, gateway, c["id"])
    async with pool.acquire() as conn:
        return read(await repo.with_redemption(conn, c["id"]))


async def get(pool: asyncpg.Pool, copayment_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        c = await repo.with_redemption(conn, copayment_id)
    if c is None:
        raise CopayNotFound(field="copayment_id")
    return c


async def due(pool: asyncpg.Pool, beneficiary_id: uuid.UUID) -> list[dict[str, Any]]:
    """The person's online co-payments waiting to be paid."""
    async with pool.acquire() as conn:
        return [read(c) for c in await repo.due_for_beneficiary(conn, beneficiary_id)]


async def client_secret(
    pool: asyncpg.Pool, gateway: StripeGateway, c: asyncpg.Record
) -> dict[str, Any]:
    """The PaymentIntent's client_secret for the family's payment page (read from Stripe
    each time, never stored); only while the co-payment waits for an online payment."""
    if (
        c["method"] != "stripe"
        or c["status"] != "open"
        or c["redemption_status"] == "voided"
        or not c["stripe_payment_intent_id"]
    ):
        raise NotPayable(field="copayment_id")
    intent = await gateway.retrieve_intent(c["stripe_payment_intent_id"])
    if intent.status == "succeeded":  # paid, the webhook not here yet: record it now
        return await sync(pool, gateway, c["id"])
    return read(c, intent.client_secret)


async def sync_open(
    pool: asyncpg.Pool,
    gateway: StripeGateway,
    *,
    older_than_s: float = 120,
    every_s: float = 300,
    limit: int = 50,
) -> int:
    """Sync open online co-payments whose webhook may have been lost; how many captured."""
    async with pool.acquire() as conn:
        rows = await repo.open_to_sync(
            conn, older_than_s=older_than_s, every_s=every_s, limit=limit
        )
    captured = 0
    for row in rows:
        try:
            after = await sync(pool, gateway, row["id"])
        except StripeRefused as exc:  # this one needs a person; the others go on
            log.error(
                "co-payment %s: Stripe refused the sync (%s)",
                row["id"],
                exc.details.get("stripe_code"),
            )
            continue
        captured += after["status"] != "open"
    return captured
