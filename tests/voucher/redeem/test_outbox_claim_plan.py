"""The relay's claim reads a partition's oldest undelivered events by an ordered scan of the
undelivered index that stops after the batch, whatever the outbox's statistics say: never the
partition's whole backlog fetched through a bitmap and sorted (a cost that grew with the
backlog: 35 ms a batch at 124,000 events waiting in the bench's drain; whether the planner
chose it depended on the sample ANALYZE drew, so only the shape the relay runs is checked)."""

from __future__ import annotations

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from services.voucher.repository import redemption as repo


async def _claim_plan(conn: asyncpg.Connection, claim: str, *, hinted: bool) -> str:
    async with conn.transaction():
        if hinted:
            await conn.execute(repo.CLAIM_PLAN)
        return str(
            await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + claim, "4502", 500)
        )


async def test_the_claim_stops_after_the_batch_whatever_the_statistics(make_db):
    db = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.owner_url))
    try:
        # four partitions; three quarters delivered, analysed in between: the statistics the
        # planner had in the bench's drain
        await conn.execute(
            "INSERT INTO outbox (event_id, type, payload) "
            "SELECT gen_random_uuid(), 'redemption.created', jsonb_build_object("
            "'budget_region_code', '450' || (1 + i % 4) || '00', 'x', repeat('y', 300)) "
            "FROM generate_series(1, 120000) i"
        )
        await conn.execute("ANALYZE outbox")
        await conn.execute("UPDATE outbox SET delivered_at = now() WHERE id <= 90000")
        await conn.execute("ANALYZE outbox")

        hinted = await _claim_plan(conn, repo.CLAIM_BATCH, hinted=True)
        unhinted = await _claim_plan(conn, repo.CLAIM_BATCH, hinted=False)
        # as the relay runs it: the undelivered index in order, 500 rows and no more
        assert "Bitmap" not in hinted and "Sort" not in hinted, hinted
        assert "ix_outbox_undelivered_book" in hinted
        assert '"Actual Rows": 500' in hinted
        assert "Bitmap" not in unhinted and "ix_outbox_undelivered_book" in unhinted
    finally:
        await conn.close()
