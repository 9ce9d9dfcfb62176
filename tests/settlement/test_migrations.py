"""The settlement and co-payment migrations are reversible."""

from __future__ import annotations

import asyncio

import asyncpg

from services.common.migrate import downgrade, upgrade


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {
            r[0]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()


async def test_settlement_migrations_go_down_and_up_again(make_db):
    for service, below, tables in (
        (
            "ledger",
            "ledger_0003",
            {
                "claim",
                "claim_line",
                "claim_action",
                "payment_batch",
                "payment_line",
                "bank_confirmation",
            },
        ),
        ("voucher", "voucher_0201", {"copayment", "copay_refund", "stripe_webhook_event"}),
    ):
        db = await make_db(service)
        assert tables <= await _tables(db.owner_url)
        await asyncio.to_thread(downgrade, service, db.owner_url, below)
        assert not tables & await _tables(db.owner_url)
        await asyncio.to_thread(upgrade, service, db.owner_url)
        assert tables <= await _tables(db.owner_url)


async def _columns(url: str, table: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {
            r[0]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table
            )
        }
    finally:
        await conn.close()


async def test_cash_benefit_payment_migrations_go_down_and_up_again(make_db):
    for service, below, table, cols in (
        ("ledger", "ledger_0102", "payment_line", {"payee_kind", "cash_entry_id"}),
        ("voucher", "voucher_0102", "beneficiary", {"payout_account_enc"}),
    ):
        db = await make_db(service)
        assert cols <= await _columns(db.owner_url, table)
        await asyncio.to_thread(downgrade, service, db.owner_url, below)
        assert not cols & await _columns(db.owner_url, table)
        await asyncio.to_thread(upgrade, service, db.owner_url)
        assert cols <= await _columns(db.owner_url, table)
