"""All SQL of payment batches and bank confirmations (asyncpg; callers own transactions)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.ledger.chart import AccountKey


async def batch_by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, request_hash FROM payment_batch WHERE idempotency_key = $1", key
    )


async def approved_claims(
    conn: asyncpg.Connection, ids: list[uuid.UUID] | None, *, lock: bool = False
) -> list[asyncpg.Record]:
    where = "id = ANY($1::uuid[])" if ids is not None else "status = 'approved'"
    return await conn.fetch(
        f"SELECT id, provider_id, period, region_codes, status, total_fen FROM claim "
        f"WHERE {where} ORDER BY id" + (" FOR UPDATE" if lock else ""),
        *([ids] if ids is not None else []),
    )


async def insert_batch(
    conn: asyncpg.Connection, row: dict[str, Any], lines: list[dict[str, Any]]
) -> None:
    await conn.execute(
        "INSERT INTO payment_batch (id, reference, region_code, total_fen, line_count, "
        "file_enc, file_sha256, idempotency_key, request_hash, created_by, not_payable) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)",
        row["id"],
        row["reference"],
        row["region_code"],
        row["total_fen"],
        row["line_count"],
        row["file_enc"],
        row["file_sha256"],
        row["idempotency_key"],
        row["request_hash"],
        row["created_by"],
        json.dumps(row.get("not_payable") or []),
    )
    cols = (
        "reference",
        "batch_id",
        "claim_id",
        "provider_id",
        "payee_name",
        "bank_name",
        "account_number_enc",
        "account_number_masked",
        "amount_fen",
        "purpose",
        "payee_kind",
        "cash_entry_id",
        "beneficiary_id",
    )
    types = (
        "text",
        "uuid",
        "uuid",
        "text",
        "text",
        "text",
        "bytea",
        "text",
        "bigint",
        "text",
        "text",
        "uuid",
        "text",
    )
    await conn.execute(
        f"INSERT INTO payment_line ({', '.join(cols)}) SELECT * FROM unnest("
        + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
        + ")",
        *([ln.get(c) for ln in lines] for c in cols),
    )


async def get_batch(conn: asyncpg.Connection, batch_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, reference, region_code, total_fen, line_count, file_enc, file_sha256, "
        "created_by, created_at, not_payable FROM payment_batch WHERE id = $1",
        batch_id,
    )


async def batch_lines(
    conn: asyncpg.Connection, batch_id: uuid.UUID, *, lock: bool = False
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT reference, claim_id, provider_id, payee_name, bank_name, account_number_masked, "
        "amount_fen, status, entry_id, "
        "bank_reference, failure_reason, settled_at, payee_kind, cash_entry_id, "
        "beneficiary_id FROM payment_line WHERE batch_id = $1 "
        "ORDER BY reference" + (" FOR UPDATE" if lock else ""),
        batch_id,
    )


async def confirmation(
    conn: asyncpg.Connection, batch_id: uuid.UUID, sha: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT result FROM bank_confirmation WHERE batch_id = $1 AND file_sha256 = $2",
        batch_id,
        sha,
    )


async def record_confirmation(
    conn: asyncpg.Connection, batch_id: uuid.UUID, sha: str, by: str, result: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO bank_confirmation (batch_id, file_sha256, imported_by, "
        "result) VALUES ($1, $2, $3, $4::jsonb)",
        batch_id,
        sha,
        by,
        json.dumps(result),
    )


async def payable_of_claim(
    conn: asyncpg.Connection, claim_id: uuid.UUID
) -> list[tuple[AccountKey, int]]:
    """The provider-payable accounts (2201) a claim's live lines — redemptions and online
    co-payments — credited, net, and how much each (zero nets are left out)."""
    rows = await conn.fetch(
        """
        SELECT a.code, a.program_code, a.region_code, a.funding_source, a.provider_id,
               a.beneficiary_id, a.currency, -sum(p.amount_fen) AS owed
          FROM (SELECT entry_id FROM claim_line WHERE claim_id = $1 AND active
                UNION ALL
                SELECT entry_id FROM claim_copay_line WHERE claim_id = $1 AND active) l
          JOIN posting p ON p.entry_id = l.entry_id
          JOIN account a ON a.id = p.account_id AND a.code = '2201'
         GROUP BY a.id HAVING sum(p.amount_fen) <> 0 ORDER BY a.id
        """,
        claim_id,
    )
    return [
        (
            AccountKey(
                r["code"],
                r["program_code"],
                r["region_code"],
                r["funding_source"],
                r["provider_id"],
                r["beneficiary_id"],
                r["currency"].strip(),
            ),
            int(r["owed"]),
        )
        for r in rows
    ]


async def settle_line(
    conn: asyncpg.Connection,
    reference: str,
    status: str,
    entry_id: uuid.UUID | None,
    bank_reference: str | None,
    reason: str | None,
) -> None:
    await conn.execute(
        "UPDATE payment_line SET status = $2, entry_id = $3, bank_reference = $4, "
        "failure_reason = $5, settled_at = clock_timestamp() WHERE reference = $1",
        reference,
        status,
        entry_id,
        bank_reference,
        reason,
    )


async def set_claim_status(conn: asyncpg.Connection, claim_id: uuid.UUID, status: str) -> None:
    await conn.execute("UPDATE claim SET status = $2 WHERE id = $1", claim_id, status)


async def lock_cash_benefits(conn: asyncpg.Connection) -> None:
    """Batching cash benefits is one writer at a time (a benefit goes in one live line)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('settlement:cash_benefit'))")


async def payable_cash_benefits(
    conn: asyncpg.Connection, period: str, entry_ids: list[uuid.UUID] | None = None
) -> list[asyncpg.Record]:
    """Cash benefit entries of the period (2202 beneficiary payable credited) not reversed
    and in no pending or paid payment line, with the amount owed to the beneficiary."""
    return await conn.fetch(
        """
        SELECT e.id AS entry_id, e.ref AS benefit_id, e.beneficiary_id, e.region_code,
               e.program_code, e.period, -sum(p.amount_fen) AS amount_fen
          FROM entry e JOIN posting p ON p.entry_id = e.id
          JOIN account a ON a.id = p.account_id AND a.code = '2202'
         WHERE e.kind = 'cash_benefit' AND e.period = $1
           AND ($2::uuid[] IS NULL OR e.id = ANY($2::uuid[]))
           AND NOT EXISTS (SELECT 1 FROM entry r WHERE r.reverses_entry_id = e.id)
           AND NOT EXISTS (SELECT 1 FROM payment_line pl
                            WHERE pl.cash_entry_id = e.id AND pl.status <> 'failed')
         GROUP BY e.id HAVING -sum(p.amount_fen) > 0 ORDER BY e.seq
        """,
        period,
        entry_ids,
    )


async def payable_of_cash_benefit(
    conn: asyncpg.Connection, entry_id: uuid.UUID
) -> list[tuple[AccountKey, int]]:
    """The beneficiary-payable accounts (2202) a cash benefit entry credited, and how much."""
    rows = await conn.fetch(
        """
        SELECT a.code, a.program_code, a.region_code, a.funding_source, a.provider_id,
               a.beneficiary_id, a.currency, -sum(p.amount_fen) AS owed
          FROM posting p JOIN account a ON a.id = p.account_id AND a.code = '2202'
         WHERE p.entry_id = $1 GROUP BY a.id ORDER BY a.id
        """,
        entry_id,
    )
    return [
        (
            AccountKey(
                r["code"],
                r["program_code"],
                r["region_code"],
                r["funding_source"],
                r["provider_id"],
                r["beneficiary_id"],
                r["currency"].strip(),
            ),
            int(r["owed"]),
        )
        for r in rows
        if int(r["owed"]) > 0
    ]


async def list_batches(
    conn: asyncpg.Connection, region_prefix: str, limit: int, after: tuple[Any, uuid.UUID] | None
) -> list[asyncpg.Record]:
    """Batches whose region starts with the prefix, newest first, after a keyset cursor,
    with their lines counted by status."""
    return await conn.fetch(
        """
        SELECT b.id, b.reference, b.region_code, b.total_fen, b.line_count, b.created_by,
               b.created_at,
               count(l.reference) FILTER (WHERE l.status = 'pending') AS pending,
               count(l.reference) FILTER (WHERE l.status = 'paid') AS paid,
               count(l.reference) FILTER (WHERE l.status = 'failed') AS failed,
               coalesce(sum(l.amount_fen) FILTER (WHERE l.status = 'paid'), 0) AS paid_fen
          FROM payment_batch b LEFT JOIN payment_line l ON l.batch_id = b.id
         WHERE b.region_code LIKE $1 || '%'
           AND ($3::timestamptz IS NULL OR (b.created_at, b.id) < ($3, $4::uuid))
         GROUP BY b.id ORDER BY b.created_at DESC, b.id DESC LIMIT $2
        """,
        region_prefix,
        limit,
        after[0] if after else None,
        after[1] if after else None,
    )
