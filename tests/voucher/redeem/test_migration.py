"""The redemption migration is reversible: down past it and up again on a real database."""

from __future__ import annotations

import asyncio

import asyncpg

from services.common.migrate import downgrade, upgrade


async def test_voucher_0201_downgrades_and_upgrades(make_db):
    db = await make_db("voucher")

    async def tables() -> set[str]:
        conn = await asyncpg.connect(db.owner_url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {r[0] for r in rows}
        finally:
            await conn.close()

    assert {"redemption", "card", "used_nonce"} <= await tables()
    await asyncio.to_thread(downgrade, "voucher", db.owner_url, "voucher_0004")
    assert not {"redemption", "card", "used_nonce"} & await tables()
    await asyncio.to_thread(upgrade, "voucher", db.owner_url)
    assert {"redemption", "card", "used_nonce"} <= await tables()


async def test_voucher_0202_spend_region_downgrades_and_upgrades(make_db):
    db = await make_db("voucher")

    async def columns() -> set[str]:
        conn = await asyncpg.connect(db.owner_url)
        try:
            rows = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'voucher'"
            )
            return {r[0] for r in rows}
        finally:
            await conn.close()

    assert "spend_region_prefix" in await columns()
    await asyncio.to_thread(downgrade, "voucher", db.owner_url, "voucher_0201")
    assert "spend_region_prefix" not in await columns()
    await asyncio.to_thread(upgrade, "voucher", db.owner_url)
    assert "spend_region_prefix" in await columns()


async def test_voucher_2301_hot_path_indexes_downgrade_and_upgrade(make_db):
    """The two secondary indexes the redemption no longer writes come back on a downgrade and
    go again on the upgrade; a voucher's delete stays refused by its trigger either way."""
    db = await make_db("voucher")
    gone = {"ix_redemption_voucher", "ix_used_nonce_expires_at"}

    async def indexes() -> set[str]:
        conn = await asyncpg.connect(db.owner_url)
        try:
            rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            return {r[0] for r in rows}
        finally:
            await conn.close()

    assert not gone & await indexes()
    await asyncio.to_thread(downgrade, "voucher", db.owner_url, "voucher_2001")
    assert gone <= await indexes()
    await asyncio.to_thread(upgrade, "voucher", db.owner_url)
    assert not gone & await indexes()
