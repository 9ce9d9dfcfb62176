"""The redemption's statement pool (services/common/statement_pool.py) on a real PostgreSQL:
never more connections than its size however many calls race, a refused statement keeps its
connection, a call cancelled midway or a connection killed while free costs that connection
only, and every waiting call is served in turn."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.common.statement_pool import StatementPool

NAME = "yiyang-statement-pool-test"


async def _backends(url: str) -> int:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", NAME
        )
        return n
    finally:
        await conn.close()


@pytest.fixture
async def pool(make_db):
    sdb = await make_db("voucher")

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            **asyncpg_connect_kwargs(sdb.owner_url), server_settings={"application_name": NAME}
        )

    p = StatementPool(connect, 3)
    p.url = sdb.owner_url  # type: ignore[attr-defined]
    yield p
    await p.close()


async def test_many_racing_calls_share_at_most_size_connections_and_all_are_served(pool):
    rows = await asyncio.gather(
        *(
            pool.fetchrow("SELECT $1::int AS n, pg_backend_pid(), pg_sleep(0.01)", i)
            for i in range(40)
        )
    )
    assert [r["n"] for r in rows] == list(range(40))
    assert len({r[1] for r in rows}) == 3
    assert await _backends(pool.url) == 3


async def test_a_refused_statement_keeps_its_connection(pool):
    pid = (await pool.fetchrow("SELECT pg_backend_pid()"))[0]
    with pytest.raises(asyncpg.DivisionByZeroError):
        await pool.fetchrow("SELECT 1 / 0")
    # One connection was open, it is the one used again.
    assert (await pool.fetchrow("SELECT pg_backend_pid()"))[0] == pid
    assert await _backends(pool.url) == 1


async def test_a_call_cancelled_midway_closes_only_its_connection_and_the_pool_goes_on(pool):
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pool.fetchrow("SELECT pg_sleep(1)"), 0.2)
    rows = await asyncio.gather(*(pool.fetchrow("SELECT pg_backend_pid()") for _ in range(6)))
    assert len(rows) == 6
    await asyncio.sleep(1.2)  # the closed connection's backend ends its sleep and goes
    assert await _backends(pool.url) <= 3


async def test_a_connection_killed_while_free_is_replaced(pool):
    pid = (await pool.fetchrow("SELECT pg_backend_pid()"))[0]
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(pool.url))
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()
    await asyncio.sleep(0.1)
    again = (await pool.fetchrow("SELECT pg_backend_pid()"))[0]
    assert again != pid


async def test_waiters_cancelled_in_the_queue_do_not_lose_a_connection(pool):
    slow = [asyncio.create_task(pool.fetchrow("SELECT pg_sleep(0.2)")) for _ in range(3)]
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(pool.fetchrow("SELECT 1")) for _ in range(5)]
    await asyncio.sleep(0.01)
    for t in waiting[:4]:
        t.cancel()
    await asyncio.gather(*slow)
    assert (await waiting[4])[0] == 1
    # All three places are usable again.
    rows = await asyncio.gather(
        *(pool.fetchrow("SELECT pg_backend_pid(), pg_sleep(0.05)") for _ in range(3))
    )
    assert len({r[0] for r in rows}) == 3


async def test_a_waiter_gets_a_fresh_connection_when_the_busy_one_is_closed(make_db):
    sdb = await make_db("voucher")

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            **asyncpg_connect_kwargs(sdb.owner_url), server_settings={"application_name": NAME}
        )

    one = StatementPool(connect, 1)
    try:
        first = (await one.fetchrow("SELECT pg_backend_pid()"))[0]
        busy = asyncio.create_task(one.fetchrow("SELECT pg_sleep(1)"))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(one.fetchrow("SELECT pg_backend_pid()"))
        await asyncio.sleep(0.05)
        busy.cancel()  # its connection is closed; the waiter is served on a new one
        served = (await asyncio.wait_for(waiting, 5))[0]
        assert served != first
    finally:
        await one.close()
