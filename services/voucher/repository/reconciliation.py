"""SQL of the voucher side of reconciliation (read-only, one snapshot per call)."""

from __future__ import annotations

from typing import Any

import asyncpg


async def redemptions_and_balances(
    pool: asyncpg.Pool, period: str, region_prefix: str
) -> tuple[list[asyncpg.Record], ...]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        redemptions = await conn.fetch(
            """
            SELECT r.id::text AS id, r.provider_id, r.subsidy_fen, r.copay_fen, r.status,
                   r.claim_id, r.day_on, v.program_code, v.budget_region_code
              FROM redemption r JOIN voucher v ON v.id = r.voucher_id
             WHERE to_char(r.day_on, 'YYYY-MM') = $1
               AND v.budget_region_code LIKE $2 || '%'
             ORDER BY r.created_at, r.id
            """,
            period,
            region_prefix,
        )
        balances = await conn.fetch(
            """
            SELECT program_code, budget_region_code, sum(balance_fen)::bigint AS balance_fen
              FROM voucher WHERE budget_region_code LIKE $1 || '%'
             GROUP BY program_code, budget_region_code ORDER BY 1, 2
            """,
            region_prefix,
        )
        copayments = await conn.fetch(
            """
            SELECT c.id::text AS id, c.redemption_id::text AS redemption_id, c.method,
                   c.captured_fen, c.refunded_fen, c.stripe_payment_intent_id
              FROM copayment c JOIN redemption r ON r.id = c.redemption_id
              JOIN voucher v ON v.id = r.voucher_id
             WHERE to_char(r.day_on, 'YYYY-MM') = $1 AND v.budget_region_code LIKE $2 || '%'
             ORDER BY c.created_at, c.id
            """,
            period,
            region_prefix,
        )
    return redemptions, balances, copayments


def as_json(
    redemptions: list[Any], balances: list[Any], copayments: list[Any] = ()
) -> dict[str, Any]:
    return {
        "copayments": [
            {
                "id": c["id"],
                "redemption_id": c["redemption_id"],
                "method": c["method"],
                "captured_fen": int(c["captured_fen"]),
                "refunded_fen": int(c["refunded_fen"]),
                "payment_intent_id": c["stripe_payment_intent_id"],
            }
            for c in copayments
        ],
        "redemptions": [
            {
                "id": r["id"],
                "provider_id": r["provider_id"],
                "subsidy_fen": int(r["subsidy_fen"]),
                "copay_fen": int(r["copay_fen"]),
                "status": r["status"],
                "claim_id": r["claim_id"],
                "day_on": r["day_on"].isoformat(),
                "program_code": r["program_code"],
                "budget_region_code": r["budget_region_code"],
            }
            for r in redemptions
        ],
        "balances": [
            {
                "program_code": b["program_code"],
                "budget_region_code": b["budget_region_code"],
                "balance_fen": int(b["balance_fen"]),
            }
            for b in balances
        ],
    }
