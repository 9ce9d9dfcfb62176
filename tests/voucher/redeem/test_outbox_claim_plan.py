"""The relay's claim reads a partition's oldest undelivered events by an ordered scan of the
undelivered index that stops after the batch, whatever the outbox's statistics say: never the
primary key walked from the oldest id past every delivered event, nor the partition's whole
backlog fetched through a bitmap and sorted (costs that grew with the backlog: 35-40 ms a
batch at 124,000 events waiting in the bench's drain). Which of those the planner chose for
the old statement depended on the statistics ANALYZE drew, so the test checks the shape the
relay runs, in custom and generic plans."""

from __future__ import annotations

import re

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from services.voucher.repository import redemption as repo


async def _claim_plan(conn: asyncpg.Connection, mode: str) -> str:
    """The claim's plan as the relay runs it (its transaction, CLAIM_PLAN first)."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await conn.execute(repo.CLAIM_PLAN)
        stmt = await conn.prepare("EXPLAIN (ANALYZE, FORMAT JSON) " + repo.CLAIM_BATCH)
        return str(await stmt.fetchval("4502", 500))


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

        for mode in ("force_custom_plan", "force_generic_plan"):
            plan = await _claim_plan(conn, mode)
            # the undelivered index in its order, 500 rows and no more
            assert "ix_outbox_undelivered_book" in plan and '"Actual Rows": 500' in plan, plan
            assert "pk_outbox" not in plan and "Bitmap" not in plan and "Sort" not in plan, plan
    finally:
        await conn.close()


async def test_the_progress_line_reads_a_bounded_part_of_the_backlog(make_db):
    """The relay's progress line and readiness (`PROGRESS`) count the backlog up to a cap and
    take the oldest age from each partition's first undelivered event: however long the
    backlog, they read at most the cap's worth of index entries and one a partition; LAG's
    exact figures read all of it (14 ms of the server's CPU at 40,000 waiting)."""
    db = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.owner_url))
    try:
        # four partitions, 20,000 events, the first half delivered; the oldest undelivered
        # event of all is the first of partition 4503 (an hour old), the last to be claimed
        await conn.execute(
            "INSERT INTO outbox (event_id, type, payload, occurred_at) "
            "SELECT gen_random_uuid(), 'redemption.created', jsonb_build_object("
            "'budget_region_code', '450' || (1 + i % 4) || '00'), "
            "now() - CASE WHEN i = 10003 THEN interval '1 hour' ELSE interval '1 minute' END "
            "FROM generate_series(1, 20000) i"
        )
        await conn.execute("UPDATE outbox SET delivered_at = now() WHERE id <= 10000")
        await conn.execute("ANALYZE outbox")
        await conn.execute("UPDATE outbox SET rejected = true WHERE id = 1")

        exact = await repo.lag(conn)
        assert (exact.undelivered, exact.rejected) == (10_000, 1)
        whole = await repo.progress(conn, cap=20_000)
        assert (whole.undelivered, whole.at_least, whole.rejected) == (10_000, False, 1)
        assert 3590 < whole.oldest_age_s < 3700 and abs(whole.oldest_age_s - exact.oldest_age_s) < 5
        capped = await repo.progress(conn, cap=500)
        assert (capped.undelivered, capped.at_least) == (500, True)
        assert abs(capped.oldest_age_s - whole.oldest_age_s) < 5

        for mode in ("force_custom_plan", "force_generic_plan"):
            async with conn.transaction():
                await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                stmt = await conn.prepare("EXPLAIN (ANALYZE, FORMAT JSON) " + repo.PROGRESS)
                plan = str(await stmt.fetchval(500))
            assert "Seq Scan" not in plan and "Bitmap" not in plan and "Sort" not in plan, plan
            # no node of the plan read more rows than the cap
            rows = [int(x) for x in re.findall(r'"Actual Rows": (\d+)', plan)]
            assert rows and max(rows) <= 500, plan

        async with conn.transaction():  # what the empty outbox answers
            await conn.execute("UPDATE outbox SET delivered_at = now() WHERE delivered_at IS NULL")
            empty = await repo.progress(conn)
            assert (empty.undelivered, empty.at_least, empty.oldest_age_s) == (0, False, 0.0)
    finally:
        await conn.close()
