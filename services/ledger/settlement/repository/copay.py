"""All SQL of co-payments in settlement: how each was paid, which co-payment entries a
provider can claim, a claim's co-payment lines, and what paying them clears."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

COPAY_KINDS = ("copay_received", "copay_refunded")


async def record_methods(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    """Keep how each co-payment was paid (first word wins; the voucher service never
    changes a co-payment's method)."""
    await conn.execute(
        "INSERT INTO copayment_method (copayment_id, method, redemption_id, provider_id) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
        "ON CONFLICT (copayment_id) DO NOTHING",
        [r["copayment_id"] for r in rows],
        [r["method"] for r in rows],
        [r["redemption_id"] for r in rows],
        [r["provider_id"] for r in rows],
    )


async def claimable(
    conn: asyncpg.Connection, provider_id: str, period: str
) -> list[asyncpg.Record]:
    """The provider's online co-payment entries of the period (received positive, refunded
    negative: what each credited to provider payable) in no live claim — and refunds of
    earlier periods still in no claim: a refund made after the co-payment was paid to the
    provider is recovered from the provider's next claim, whatever its period."""
    return await conn.fetch(
        """
        SELECT e.id AS entry_id, e.ref AS copayment_id, e.kind, e.region_code, e.posted_at,
               m.redemption_id, -sum(p.amount_fen) AS amount_fen
          FROM entry e JOIN posting p ON p.entry_id = e.id
          JOIN account a ON a.id = p.account_id AND a.code = '2201'
          JOIN copayment_method m ON m.copayment_id = e.ref AND m.method = 'stripe'
         WHERE e.kind IN ('copay_received', 'copay_refunded') AND e.provider_id = $1
           AND (e.period = $2 OR (e.kind = 'copay_refunded' AND e.period < $2))
           AND NOT EXISTS (SELECT 1 FROM claim_copay_line l
                            WHERE l.entry_id = e.id AND l.active)
         GROUP BY e.id, m.redemption_id HAVING sum(p.amount_fen) <> 0 ORDER BY e.seq
        """,
        provider_id,
        period,
    )


async def insert_lines(
    conn: asyncpg.Connection, claim_id: uuid.UUID, lines: list[asyncpg.Record]
) -> None:
    await conn.execute(
        "INSERT INTO claim_copay_line (claim_id, entry_id, copayment_id, amount_fen) "
        "SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::bigint[])",
        claim_id,
        [r["entry_id"] for r in lines],
        [r["copayment_id"] for r in lines],
        [r["amount_fen"] for r in lines],
    )


async def lines(conn: asyncpg.Connection, claim_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT l.entry_id, l.copayment_id, l.amount_fen, e.kind, e.posted_at, "
        "m.redemption_id FROM claim_copay_line l JOIN entry e ON e.id = l.entry_id "
        "LEFT JOIN copayment_method m ON m.copayment_id = l.copayment_id "
        "WHERE l.claim_id = $1 AND l.active ORDER BY e.seq",
        claim_id,
    )


async def release_lines(conn: asyncpg.Connection, claim_id: uuid.UUID) -> None:
    """A claim that is abandoned (or cannot carry them) lets its co-payment lines go: they
    are claimable again."""
    await conn.execute(
        "UPDATE claim_copay_line SET active = false WHERE claim_id = $1 AND active", claim_id
    )
    await conn.execute(
        "UPDATE claim SET copay_fen = 0, total_fen = subsidy_fen WHERE id = $1", claim_id
    )


async def reconciliation(
    conn: asyncpg.Connection, period: str, prefix: str
) -> dict[str, list[asyncpg.Record]]:
    """Co-payment entries of the period and region, how they were paid and what live claims
    hold of them; live claim co-payment lines that name no online co-payment entry."""
    entries = await conn.fetch(
        """
        SELECT e.id AS entry_id, e.ref AS copayment_id, e.provider_id, m.method,
               -sum(p.amount_fen) AS posted_fen,
               (SELECT sum(l.amount_fen) FROM claim_copay_line l
                 WHERE l.entry_id = e.id AND l.active) AS claimed_fen
          FROM entry e JOIN posting p ON p.entry_id = e.id
          JOIN account a ON a.id = p.account_id AND a.code = '2201'
          LEFT JOIN copayment_method m ON m.copayment_id = e.ref
         WHERE e.kind IN ('copay_received', 'copay_refunded') AND e.period = $1
           AND e.region_code LIKE $2 || '%'
         GROUP BY e.id, m.method ORDER BY e.seq
        """,
        period,
        prefix,
    )
    strays = await conn.fetch(
        """
        SELECT l.claim_id, l.entry_id, l.amount_fen
          FROM claim_copay_line l JOIN claim c ON c.id = l.claim_id
          LEFT JOIN entry e ON e.id = l.entry_id
          LEFT JOIN copayment_method m ON m.copayment_id = e.ref
         WHERE l.active AND c.period = $1
           AND EXISTS (SELECT 1 FROM unnest(c.region_codes) r WHERE r LIKE $2 || '%')
           AND (e.kind IS NULL OR e.kind NOT IN ('copay_received', 'copay_refunded')
                OR m.method IS DISTINCT FROM 'stripe')
        """,
        period,
        prefix,
    )
    return {"entries": entries, "strays": strays}
