"""SQL of co-payments (asyncpg; the caller owns the transaction)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from services.common.ids import new_uuid

COLUMNS = (
    "c.id, c.redemption_id, c.provider_id, c.method, c.amount_fen, c.captured_fen, "
    "c.refunded_fen, c.refund_pending_fen, c.status, c.stripe_idempotency_key, "
    "c.stripe_payment_intent_id"
)


async def lock_redemption(
    conn: asyncpg.Connection, redemption_id: uuid.UUID
) -> asyncpg.Record | None:
    """The redemption with what its ledger events need from its voucher, locked."""
    return await conn.fetchrow(
        """
        SELECT r.id, r.provider_id, r.status, r.copay_fen, r.voucher_id, r.beneficiary_id,
               v.program_code, v.region_code, v.budget_region_code, v.period,
               v.funding_shares::text AS funding_shares
          FROM redemption r JOIN voucher v ON v.id = r.voucher_id
         WHERE r.id = $1 FOR UPDATE OF r
        """,
        redemption_id,
    )


async def by_redemption(
    conn: asyncpg.Connection, redemption_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM copayment c WHERE c.redemption_id = $1"
        + (" FOR UPDATE" if lock else ""),
        redemption_id,
    )


async def by_payment_intent(conn: asyncpg.Connection, pi: str) -> asyncpg.Record | None:
    """Unlocked: a caller learns the redemption from it, locks that, then `by_id(lock=True)`."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM copayment c WHERE c.stripe_payment_intent_id = $1", pi
    )


async def by_id(
    conn: asyncpg.Connection, copayment_id: uuid.UUID, *, lock: bool = True
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM copayment c WHERE c.id = $1" + (" FOR UPDATE" if lock else ""),
        copayment_id,
    )


async def payload_source(
    conn: asyncpg.Connection, redemption_id: uuid.UUID
) -> asyncpg.Record | None:
    """What a ledger event needs from the redemption and its voucher, without a lock (the
    refund worker must not lock a redemption: see the lock order in service/copay.py)."""
    return await conn.fetchrow(
        """
        SELECT r.id, r.provider_id, r.status, r.copay_fen, r.voucher_id, r.beneficiary_id,
               v.program_code, v.region_code, v.budget_region_code, v.period,
               v.funding_shares::text AS funding_shares
          FROM redemption r JOIN voucher v ON v.id = r.voucher_id WHERE r.id = $1
        """,
        redemption_id,
    )


async def with_redemption(
    conn: asyncpg.Connection, copayment_id: uuid.UUID
) -> asyncpg.Record | None:
    """A co-payment with whose it is and what it was for (for the family and the staff)."""
    return await conn.fetchrow(
        f"""SELECT {COLUMNS}, r.beneficiary_id, r.service_code, r.gross_fen, r.status
                   AS redemption_status, c.created_at
              FROM copayment c JOIN redemption r ON r.id = c.redemption_id WHERE c.id = $1""",
        copayment_id,
    )


async def due_for_beneficiary(
    conn: asyncpg.Connection, beneficiary_id: uuid.UUID
) -> list[asyncpg.Record]:
    """Online co-payments of the person still waiting to be paid (redemption not voided),
    oldest first."""
    return await conn.fetch(
        f"""SELECT {COLUMNS}, r.beneficiary_id, r.service_code, r.gross_fen, r.status
                   AS redemption_status, c.created_at
              FROM copayment c JOIN redemption r ON r.id = c.redemption_id
             WHERE r.beneficiary_id = $1 AND c.method = 'stripe' AND c.status = 'open'
               AND r.status <> 'voided'
             ORDER BY c.created_at, c.id""",
        beneficiary_id,
    )


async def open_to_sync(
    conn: asyncpg.Connection, *, older_than_s: float, every_s: float, limit: int
) -> list[asyncpg.Record]:
    """Open online co-payments of the last day not re-read from Stripe lately."""
    return await conn.fetch(
        """SELECT id FROM copayment
            WHERE status = 'open' AND method = 'stripe' AND stripe_payment_intent_id IS NOT NULL
              AND created_at > now() - interval '1 day'
              AND created_at < now() - make_interval(secs => $1)
              AND (synced_at IS NULL OR synced_at < now() - make_interval(secs => $2))
            ORDER BY created_at LIMIT $3""",
        older_than_s,
        every_s,
        limit,
    )


async def mark_synced(conn: asyncpg.Connection, copayment_id: uuid.UUID) -> None:
    await conn.execute("UPDATE copayment SET synced_at = now() WHERE id = $1", copayment_id)


async def insert(conn: asyncpg.Connection, **row: Any) -> None:
    await conn.execute(
        "INSERT INTO copayment (id, redemption_id, provider_id, method, amount_fen, "
        "captured_fen, status, stripe_idempotency_key, created_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        row["id"],
        row["redemption_id"],
        row["provider_id"],
        row["method"],
        row["amount_fen"],
        row["captured_fen"],
        row["status"],
        row["stripe_idempotency_key"],
        row["created_by"],
    )


async def set_payment_intent(conn: asyncpg.Connection, copayment_id: uuid.UUID, pi: str) -> None:
    await conn.execute(
        "UPDATE copayment SET stripe_payment_intent_id = $2, updated_at = now() WHERE id = $1",
        copayment_id,
        pi,
    )


async def set_captured(conn: asyncpg.Connection, copayment_id: uuid.UUID, fen: int) -> None:
    await conn.execute(
        "UPDATE copayment SET captured_fen = $2, status = 'succeeded', "
        "updated_at = now() WHERE id = $1",
        copayment_id,
        fen,
    )


async def add_refund(
    conn: asyncpg.Connection, copayment_id: uuid.UUID, fen: int, *, from_pending: bool = False
) -> None:
    """A refund made: refunded_fen grows (out of refund_pending_fen when it was promised)."""
    await conn.execute(
        "UPDATE copayment SET refunded_fen = refunded_fen + $2, refund_pending_fen = "
        "refund_pending_fen - CASE WHEN $3 THEN $2 ELSE 0 END, status = CASE WHEN "
        "refunded_fen + $2 = captured_fen THEN 'refunded' ELSE status END, updated_at = now() "
        "WHERE id = $1",
        copayment_id,
        fen,
        from_pending,
    )


async def add_pending_refund(conn: asyncpg.Connection, copayment_id: uuid.UUID, fen: int) -> None:
    await conn.execute(
        "UPDATE copayment SET refund_pending_fen = refund_pending_fen + $2, "
        "updated_at = now() WHERE id = $1",
        copayment_id,
        fen,
    )


async def first_webhook(conn: asyncpg.Connection, event_id: str, type_: str) -> bool:
    """Record a Stripe event id; False when it was seen before."""
    return (
        await conn.fetchval(
            "INSERT INTO stripe_webhook_event (id, type) VALUES ($1, $2) "
            "ON CONFLICT (id) DO NOTHING RETURNING true",
            event_id,
            type_,
        )
        is True
    )


async def enqueue(conn: asyncpg.Connection, type_: str, payload: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, type, payload, occurred_at) "
        "VALUES ($1, $2, $3::jsonb, now())",
        new_uuid(),
        type_,
        orjson.dumps(payload).decode(),
    )


REFUND_COLUMNS = (
    "f.idempotency_key, f.copayment_id, f.amount_fen, f.status, f.reason, "
    "f.stripe_refund_id, f.attempts, f.last_error, f.next_attempt_at"
)


async def refund_by_key(
    conn: asyncpg.Connection, key: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REFUND_COLUMNS} FROM copay_refund f "
        "WHERE f.idempotency_key = $1" + (" FOR UPDATE" if lock else ""),
        key,
    )


async def record_refund(
    conn: asyncpg.Connection,
    key: str,
    copayment_id: uuid.UUID,
    amount_fen: int,
    *,
    status: str,
    reason: str,
) -> None:
    await conn.execute(
        "INSERT INTO copay_refund (idempotency_key, copayment_id, amount_fen, status, reason, "
        "completed_at) VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'succeeded' THEN now() END)",
        key,
        copayment_id,
        amount_fen,
        status,
        reason,
    )


async def lease_refund(conn: asyncpg.Connection, key: str, lease_s: float) -> asyncpg.Record | None:
    """Take a pending refund for one attempt at Stripe (None: done, or another worker holds
    it). The lease outlives a crash: after `lease_s` another worker may try again."""
    return await conn.fetchrow(
        f"""UPDATE copay_refund f SET attempts = attempts + 1,
                   leased_until = now() + make_interval(secs => $2)
              FROM copayment c
             WHERE f.idempotency_key = $1 AND c.id = f.copayment_id AND f.status = 'pending'
               AND (f.leased_until IS NULL OR f.leased_until < now())
         RETURNING {REFUND_COLUMNS}, c.stripe_payment_intent_id, c.redemption_id""",
        key,
        lease_s,
    )


async def refund_failed(conn: asyncpg.Connection, key: str, retry_in_s: float, error: str) -> None:
    await conn.execute(
        "UPDATE copay_refund SET leased_until = NULL, last_error = $3, "
        "next_attempt_at = now() + make_interval(secs => $2) WHERE idempotency_key = $1 "
        "AND status = 'pending'",
        key,
        retry_in_s,
        error[:200],
    )


async def complete_refund(conn: asyncpg.Connection, key: str, stripe_refund_id: str) -> None:
    await conn.execute(
        "UPDATE copay_refund SET status = 'succeeded', stripe_refund_id = $2, "
        "completed_at = now(), leased_until = NULL, last_error = NULL "
        "WHERE idempotency_key = $1",
        key,
        stripe_refund_id,
    )


async def pending_refund_keys(
    conn: asyncpg.Connection, *, limit: int, copayment_id: uuid.UUID | None = None
) -> list[str]:
    """Pending refunds due for an attempt (all of one co-payment's when it is given)."""
    if copayment_id is not None:
        rows = await conn.fetch(
            "SELECT idempotency_key FROM copay_refund WHERE status = "
            "'pending' AND copayment_id = $1 ORDER BY created_at",
            copayment_id,
        )
    else:
        rows = await conn.fetch(
            "SELECT idempotency_key FROM copay_refund WHERE status = 'pending' AND "
            "next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now()) "
            "ORDER BY next_attempt_at LIMIT $1",
            limit,
        )
    return [r["idempotency_key"] for r in rows]
