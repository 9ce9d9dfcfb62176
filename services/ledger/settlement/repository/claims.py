"""All SQL of settlement claims (asyncpg; each caller owns its transaction)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

CLAIM_COLUMNS = (
    "id, provider_id, period, region_codes, status, total_fen, subsidy_fen, "
    "copay_fen, line_count, "
    "idempotency_key, request_hash, submitted_by, submitted_at, approved_by, "
    "approved_at, rejected_by, rejected_at, created_at"
)


async def lock_provider(conn: asyncpg.Connection, provider_id: str) -> None:
    """Serialise claim preparation per provider (a transaction-scoped advisory lock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('claim:' || $1, 0))", provider_id
    )


async def claimable(
    conn: asyncpg.Connection, provider_id: str, period: str
) -> list[asyncpg.Record]:
    """Posted redemptions of the provider in the period, not reversed, in no live claim."""
    return await conn.fetch(
        """
        SELECT e.ref AS redemption_id, e.id AS entry_id, e.region_code, e.posted_at,
               e.voucher_id, e.beneficiary_id, -sum(p.amount_fen) AS amount_fen
          FROM entry e JOIN posting p ON p.entry_id = e.id AND p.line > 0
          JOIN account a ON a.id = p.account_id AND a.code = '2201'
         WHERE e.kind = 'redemption' AND e.provider_id = $1 AND e.period = $2
           AND NOT EXISTS (SELECT 1 FROM entry r WHERE r.reverses_entry_id = e.id)
           AND NOT EXISTS (SELECT 1 FROM claim_line l WHERE l.redemption_id = e.ref AND l.active)
         GROUP BY e.id ORDER BY e.seq
        """,
        provider_id,
        period,
    )


async def redemption_facts(conn: asyncpg.Connection, ids: list[str]) -> list[asyncpg.Record]:
    """For each asked id: its redemption entry (if posted), provider, period, whether it is
    reversed and the live claim holding it."""
    return await conn.fetch(
        """
        SELECT k.id AS redemption_id, e.id AS entry_id, e.provider_id, e.period,
               e.region_code, e.posted_at, e.voucher_id, e.beneficiary_id,
               (SELECT -sum(p.amount_fen) FROM posting p JOIN account a ON a.id = p.account_id
                 WHERE p.entry_id = e.id AND a.code = '2201') AS amount_fen,
               EXISTS (SELECT 1 FROM entry r WHERE r.reverses_entry_id = e.id) AS reversed,
               (SELECT l.claim_id FROM claim_line l WHERE l.redemption_id = k.id AND l.active)
                 AS claim_id
          FROM unnest($1::text[]) AS k(id)
          LEFT JOIN entry e ON e.kind = 'redemption' AND e.ref = k.id
        """,
        ids,
    )


async def insert_claim(
    conn: asyncpg.Connection,
    *,
    claim_id: uuid.UUID,
    provider_id: str,
    period: str,
    region_codes: list[str],
    idempotency_key: str | None,
    request_hash: bytes,
    submitted_by: str,
    lines: list[asyncpg.Record],
    copay_fen: int = 0,
) -> None:
    """The claim and its redemption lines (its co-payment lines: copay_repository)."""
    subsidy = sum(r["amount_fen"] for r in lines)
    await conn.execute(
        "INSERT INTO claim (id, provider_id, period, region_codes, status, total_fen, "
        "subsidy_fen, copay_fen, line_count, idempotency_key, request_hash, submitted_by) "
        "VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11)",
        claim_id,
        provider_id,
        period,
        region_codes,
        subsidy + copay_fen,
        subsidy,
        copay_fen,
        len(lines),
        idempotency_key,
        request_hash,
        submitted_by,
    )
    await conn.execute(
        "INSERT INTO claim_line (claim_id, redemption_id, entry_id, amount_fen) "
        "SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::bigint[])",
        claim_id,
        [r["redemption_id"] for r in lines],
        [r["entry_id"] for r in lines],
        [r["amount_fen"] for r in lines],
    )


async def drop_lines(conn: asyncpg.Connection, claim_id: uuid.UUID, ids: list[str]) -> None:
    """Take lines out of a pending claim (the voucher service refused them)."""
    await conn.execute(
        "UPDATE claim_line SET active = false WHERE claim_id = $1 AND redemption_id = ANY($2)",
        claim_id,
        ids,
    )
    left = await conn.fetchval(
        "SELECT coalesce(sum(amount_fen), 0) FROM claim_line WHERE claim_id = $1 AND active",
        claim_id,
    )
    copay = await conn.fetchval("SELECT copay_fen FROM claim WHERE id = $1", claim_id)
    if left + copay <= 0 and copay != 0:  # net refunds cannot ride on what is left
        await conn.execute(
            "UPDATE claim_copay_line SET active = false WHERE claim_id = $1 AND active", claim_id
        )
        await conn.execute(
            "UPDATE claim SET copay_fen = 0, total_fen = subsidy_fen WHERE id = $1", claim_id
        )
    await conn.execute(
        "UPDATE claim SET (subsidy_fen, line_count, total_fen) = (SELECT "
        "coalesce(sum(amount_fen), 0), count(*), coalesce(sum(amount_fen), 0) + claim.copay_fen "
        "FROM claim_line WHERE claim_id = $1 AND active) WHERE id = $1",
        claim_id,
    )


async def set_status(
    conn: asyncpg.Connection, claim_id: uuid.UUID, status: str, actor: str | None = None
) -> None:
    extra = {
        "submitted": ", submitted_at = clock_timestamp()",
        "approved": ", approved_by = $3, approved_at = clock_timestamp()",
        "rejected": ", rejected_by = $3, rejected_at = clock_timestamp()",
    }.get(status, "")
    args: list[Any] = [claim_id, status]
    if "$3" in extra:
        args.append(actor)
    await conn.execute(f"UPDATE claim SET status = $2{extra} WHERE id = $1", *args)


async def add_action(
    conn: asyncpg.Connection,
    claim_id: uuid.UUID,
    action: str,
    actor: str,
    role: str,
    comment: str | None = None,
    reasons: list[str] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO claim_action (claim_id, action, actor, role, comment, reasons) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        claim_id,
        action,
        actor,
        role,
        comment,
        json.dumps(reasons) if reasons is not None else None,
    )


async def get_claim(
    conn: asyncpg.Connection, claim_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CLAIM_COLUMNS} FROM claim WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        claim_id,
    )


async def claim_by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {CLAIM_COLUMNS} FROM claim WHERE idempotency_key = $1", key)


async def pending_claim(
    conn: asyncpg.Connection, provider_id: str, period: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CLAIM_COLUMNS} FROM claim WHERE provider_id = $1 AND period = $2 "
        "AND status = 'pending' ORDER BY created_at LIMIT 1",
        provider_id,
        period,
    )


async def lines(conn: asyncpg.Connection, claim_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT l.redemption_id, l.entry_id, l.amount_fen, e.posted_at, e.voucher_id, "
        "e.beneficiary_id FROM claim_line l JOIN entry e ON e.id = l.entry_id "
        "WHERE l.claim_id = $1 AND l.active ORDER BY e.seq",
        claim_id,
    )


async def actions(conn: asyncpg.Connection, claim_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT action, actor, role, comment, reasons, at FROM claim_action "
        "WHERE claim_id = $1 ORDER BY id",
        claim_id,
    )


async def list_claims(
    conn: asyncpg.Connection,
    *,
    provider_id: str | None,
    status: str | None,
    period: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {CLAIM_COLUMNS} FROM claim WHERE ($1::text IS NULL OR provider_id = $1) "
        "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR period = $3) "
        "AND status NOT IN ('pending', 'abandoned') ORDER BY created_at DESC LIMIT $4",
        provider_id,
        status,
        period,
        limit,
    )
