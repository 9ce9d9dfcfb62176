"""SQL of co-payments (asyncpg; the caller owns the transaction)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from services.common.ids import new_uuid

COLUMNS = ("c.id, c.redemption_id, c.provider_id, c.method, c.amount_fen, c.captured_fen, "
           "c.refunded_fen, c.status, c.stripe_idempotency_key, c.stripe_payment_intent_id")


async def lock_redemption(conn: asyncpg.Connection, redemption_id: uuid.UUID
                          ) -> asyncpg.Record | None:
    """The redemption with what its ledger events need from its voucher, locked."""
    return await conn.fetchrow(
        """
        SELECT r.id, r.provider_id, r.status, r.copay_fen, r.voucher_id, r.beneficiary_id,
               v.program_code, v.region_code, v.budget_region_code, v.period,
               v.funding_shares::text AS funding_shares
          FROM redemption r JOIN voucher v ON v.id = r.voucher_id
         WHERE r.id = $1 FOR UPDATE OF r
        """, redemption_id)


async def by_redemption(conn: asyncpg.Connection, redemption_id: uuid.UUID, *,
                        lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM copayment c WHERE c.redemption_id = $1"
        + (" FOR UPDATE" if lock else ""), redemption_id)


async def by_payment_intent(conn: asyncpg.Connection, pi: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM copayment c WHERE c.stripe_payment_intent_id = $1 FOR UPDATE",
        pi)


async def by_id(conn: asyncpg.Connection, copayment_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM copayment c WHERE c.id = $1 FOR UPDATE",
                               copayment_id)


async def insert(conn: asyncpg.Connection, **row: Any) -> None:
    await conn.execute(
        "INSERT INTO copayment (id, redemption_id, provider_id, method, amount_fen, "
        "captured_fen, status, stripe_idempotency_key, created_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        row["id"], row["redemption_id"], row["provider_id"], row["method"], row["amount_fen"],
        row["captured_fen"], row["status"], row["stripe_idempotency_key"], row["created_by"])


async def set_payment_intent(conn: asyncpg.Connection, copayment_id: uuid.UUID, pi: str) -> None:
    await conn.execute("UPDATE copayment SET stripe_payment_intent_id = $2, updated_at = now() "
                       "WHERE id = $1", copayment_id, pi)


async def set_captured(conn: asyncpg.Connection, copayment_id: uuid.UUID, fen: int) -> None:
    await conn.execute("UPDATE copayment SET captured_fen = $2, status = 'succeeded', "
                       "updated_at = now() WHERE id = $1", copayment_id, fen)


async def add_refund(conn: asyncpg.Connection, copayment_id: uuid.UUID, fen: int) -> None:
    await conn.execute(
        "UPDATE copayment SET refunded_fen = refunded_fen + $2, status = CASE WHEN "
        "refunded_fen + $2 = captured_fen THEN 'refunded' ELSE status END, updated_at = now() "
        "WHERE id = $1", copayment_id, fen)


async def first_webhook(conn: asyncpg.Connection, event_id: str, type_: str) -> bool:
    """Record a Stripe event id; False when it was seen before."""
    return await conn.fetchval(
        "INSERT INTO stripe_webhook_event (id, type) VALUES ($1, $2) "
        "ON CONFLICT (id) DO NOTHING RETURNING true", event_id, type_) is True


async def enqueue(conn: asyncpg.Connection, type_: str, payload: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, type, payload, occurred_at) "
        "VALUES ($1, $2, $3::jsonb, now())", new_uuid(), type_, orjson.dumps(payload).decode())


async def refund_by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT copayment_id, amount_fen FROM copay_refund "
                               "WHERE idempotency_key = $1", key)


async def record_refund(conn: asyncpg.Connection, key: str, copayment_id: uuid.UUID,
                        amount_fen: int) -> None:
    await conn.execute("INSERT INTO copay_refund (idempotency_key, copayment_id, amount_fen) "
                       "VALUES ($1, $2, $3)", key, copayment_id, amount_fen)
