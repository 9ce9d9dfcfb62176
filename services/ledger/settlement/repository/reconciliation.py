"""All SQL of the ledger side of reconciliation (read-only, one snapshot)."""

from __future__ import annotations

import asyncpg


async def ledger_side(
    conn: asyncpg.Connection, period: str, prefix: str, ids: list[str], copay_ids: list[str]
) -> dict[str, list[asyncpg.Record]]:
    """Redemption entries of the period and region (or naming one of `ids`), their reversal,
    their live claim; payable postings not explained by redemptions, voids or payments;
    vouchers-outstanding balances; paid claims whose payments do not add up."""
    redemptions = await conn.fetch(
        """
        SELECT e.ref AS redemption_id, e.id AS entry_id, e.provider_id, e.region_code,
               (SELECT -sum(p.amount_fen) FROM posting p JOIN account a ON a.id = p.account_id
                 WHERE p.entry_id = e.id AND a.code = '2201') AS amount_fen,
               EXISTS (SELECT 1 FROM entry r WHERE r.reverses_entry_id = e.id) AS reversed,
               (SELECT l.claim_id::text FROM claim_line l
                 WHERE l.redemption_id = e.ref AND l.active) AS claim_id
          FROM entry e
         WHERE e.kind = 'redemption'
           AND ((e.period = $1 AND e.region_code LIKE $2 || '%') OR e.ref = ANY($3::text[]))
        """,
        period,
        prefix,
        ids,
    )
    stray = await conn.fetch(
        """
        SELECT e.id AS entry_id, e.kind, e.provider_id, sum(p.amount_fen) AS amount_fen
          FROM posting p JOIN account a ON a.id = p.account_id AND a.code = '2201'
          JOIN entry e ON e.id = p.entry_id
         WHERE p.period = $1 AND p.region_code LIKE $2 || '%'
           AND e.kind NOT IN ('redemption', 'redemption_void', 'settlement_payment',
                              'copay_received', 'copay_refunded')
         GROUP BY e.id ORDER BY e.seq
        """,
        period,
        prefix,
    )
    outstanding = await conn.fetch(
        """
        SELECT program_code, region_code, -sum(balance_fen)::bigint AS balance_fen
          FROM account WHERE code = '2101' AND region_code LIKE $1 || '%'
         GROUP BY program_code, region_code
        """,
        prefix,
    )
    payments = await conn.fetch(
        """
        SELECT c.id::text AS claim_id, c.total_fen,
               coalesce((SELECT sum(p.amount_fen) FROM payment_line pl
                          JOIN posting p ON p.entry_id = pl.entry_id
                          JOIN account a ON a.id = p.account_id AND a.code = '2201'
                         WHERE pl.claim_id = c.id AND pl.status = 'paid'), 0) AS paid_fen,
               c.status
          FROM claim c
         WHERE c.period = $1 AND c.status IN ('paid', 'approved', 'batched')
           AND EXISTS (SELECT 1 FROM unnest(c.region_codes) r WHERE r LIKE $2 || '%')
        """,
        period,
        prefix,
    )
    copays = await conn.fetch(
        """
        SELECT e.ref AS copayment_id, sum(p.amount_fen) AS net_fen
          FROM entry e JOIN posting p ON p.entry_id = e.id
          JOIN account a ON a.id = p.account_id AND a.code = '1102'
         WHERE e.kind IN ('copay_received', 'copay_refunded')
           AND ((e.period = $1 AND e.region_code LIKE $2 || '%') OR e.ref = ANY($3::text[]))
         GROUP BY e.ref
        """,
        period,
        prefix,
        copay_ids,
    )
    return {
        "copays": copays,
        "redemptions": redemptions,
        "stray": stray,
        "outstanding": outstanding,
        "payments": payments,
    }


async def copay_split(conn: asyncpg.Connection, copay_ids: list[str]) -> list[asyncpg.Record]:
    """Per co-payment: what the ledger's clearing account (1102) received and refunded."""
    return await conn.fetch(
        """
        SELECT e.ref AS copayment_id,
               coalesce(sum(p.amount_fen) FILTER (WHERE e.kind = 'copay_received'), 0)
                 AS received_fen,
               coalesce(-sum(p.amount_fen) FILTER (WHERE e.kind = 'copay_refunded'), 0)
                 AS refunded_fen
          FROM entry e JOIN posting p ON p.entry_id = e.id
          JOIN account a ON a.id = p.account_id AND a.code = '1102'
         WHERE e.kind IN ('copay_received', 'copay_refunded') AND e.ref = ANY($1::text[])
         GROUP BY e.ref
        """,
        copay_ids,
    )
