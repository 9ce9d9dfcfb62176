"""The settlement and co-payment migrations are reversible."""

from __future__ import annotations

import asyncio

import asyncpg

from services.common.migrate import downgrade, upgrade


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        await conn.close()


async def test_settlement_migrations_go_down_and_up_again(make_db):
    for service, below, tables in (
            ("ledger", "ledger_0003", {"claim", "claim_line", "claim_action", "payment_batch",
                                       "payment_line", "bank_confirmation"}),
            ("voucher", "voucher_0201", {"copayment", "copay_refund", "stripe_webhook_event"})):
        db = await make_db(service)
        assert tables <= await _tables(db.owner_url)
        await asyncio.to_thread(downgrade, service, db.owner_url, below)
        assert not tables & await _tables(db.owner_url)
        await asyncio.to_thread(upgrade, service, db.owner_url)
        assert tables <= await _tables(db.owner_url)
