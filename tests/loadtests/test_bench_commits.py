"""The bench's count of a database's commits (`await_commits`), from which it reports how many
redemptions committed together: it sees commits made on other connections just before."""

from __future__ import annotations

import asyncio

import asyncpg

from loadtests import bench
from services.common.db import asyncpg_connect_kwargs


async def test_commits_made_on_other_connections_are_counted(make_db):
    db = await make_db("voucher")
    before = await asyncio.to_thread(bench.await_commits, db.owner_url)
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.owner_url))
    try:
        for _ in range(7):
            await conn.execute("SELECT 1")  # each statement its own (autocommit) transaction
    finally:
        await conn.close()
    after = await asyncio.to_thread(bench.await_commits, db.owner_url)
    for _ in range(5):  # a loaded machine may flush the statistics later than a second
        if after - before >= 7:
            break
        after = await asyncio.to_thread(bench.await_commits, db.owner_url)
    assert 7 <= after - before <= 30  # the readings' and connections' own besides
