"""All SQL of settlement reports: provider statements and aging (read-only)."""

from __future__ import annotations

import asyncpg


async def payable_movements(
    conn: asyncpg.Connection, provider_id: str, period: str
) -> asyncpg.Record:
    """The provider's payable (2201) before the period and its movements in the period, by
    the kind of entry, as positive amounts owed / reducing what is owed."""
    return await conn.fetchrow(
        """
        SELECT coalesce(-sum(p.amount_fen) FILTER (WHERE p.period < $2), 0) AS opening,
               coalesce(-sum(p.amount_fen) FILTER (WHERE p.period = $2
                                                 AND e.kind = 'redemption'), 0) AS redemptions,
               coalesce(sum(p.amount_fen) FILTER (WHERE p.period = $2
                                                AND e.kind = 'redemption_void'), 0) AS voids,
               coalesce(sum(p.amount_fen) FILTER (WHERE p.period = $2
                                                AND e.kind = 'settlement_payment'), 0) AS payments,
               coalesce(-sum(p.amount_fen) FILTER (WHERE p.period = $2
                                                 AND e.kind = 'copay_received'), 0)
                 AS copay_received,
               coalesce(sum(p.amount_fen) FILTER (WHERE p.period = $2
                                                AND e.kind = 'copay_refunded'), 0)
                 AS copay_refunded,
               coalesce(sum(p.amount_fen) FILTER (WHERE p.period = $2
                                                AND e.kind = 'settlement_payment'
                                                AND a.funding_source = 'copay'), 0)
                 AS copay_paid,
               coalesce(-sum(p.amount_fen) FILTER (WHERE p.period = $2 AND e.kind NOT IN
                 ('redemption', 'redemption_void', 'settlement_payment', 'copay_received',
                  'copay_refunded')), 0) AS other,
               coalesce(-sum(p.amount_fen) FILTER (WHERE p.period <= $2
                                                 AND a.funding_source = 'copay'), 0)
                 AS copay_closing,
               coalesce(-sum(p.amount_fen) FILTER (WHERE p.period <= $2), 0) AS closing,
               array_agg(DISTINCT a.region_code) AS regions
          FROM posting p JOIN account a ON a.id = p.account_id AND a.code = '2201'
          JOIN entry e ON e.id = p.entry_id
         WHERE a.provider_id = $1
        """,
        provider_id,
        period,
    )


async def provider_payable_balance(conn: asyncpg.Connection, provider_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(-sum(balance_fen), 0) FROM account WHERE code = '2201' "
            "AND provider_id = $1",
            provider_id,
        )
    )


async def unpaid_approved(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Approved (or batched, not yet paid) claims with how many days they have waited."""
    return await conn.fetch(
        """
        SELECT provider_id, region_codes, total_fen, copay_fen,
               floor(extract(epoch FROM clock_timestamp() - approved_at) / 86400)::int AS days
          FROM claim WHERE status IN ('approved', 'batched')
        """
    )
