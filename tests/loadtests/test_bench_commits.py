"""The bench's count of the transactions that wrote (`transactions_written`), from which it
reports how many redemptions committed together: it sees at once the commits made on other
connections, and not the reads."""

from __future__ import annotations

import asyncio

import asyncpg

from loadtests import bench
from services.common.db import asyncpg_connect_kwargs


async def test_commits_that_wrote_on_other_connections_are_counted_at_once(make_db):
    db = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.owner_url))
    try:
        await conn.execute("CREATE TEMP TABLE t (n int)")
        before = await asyncio.to_thread(bench.transactions_written, db.owner_url)
        for n in range(7):
            await conn.execute("INSERT INTO t VALUES ($1)", n)  # each its own transaction
        for _ in range(1000):
            await conn.execute("SELECT count(*) FROM t")  # reads take no transaction id
        async with conn.transaction():  # one transaction, however many writes
            for n in range(3):
                await conn.execute("INSERT INTO t VALUES ($1)", n)
        after = await asyncio.to_thread(bench.transactions_written, db.owner_url)
    finally:
        await conn.close()
    # (other tests' databases share the cluster: others may have written meanwhile, but not
    # as often as the thousand reads would count if they did)
    assert 8 <= after - before < 8 + 1000
