"""The redemption's statement pool (services/common/statement_pool.py) on a real PostgreSQL:
never more connections than its size however many calls race, a refused statement keeps its
connection, a call cancelled midway or a connection killed while free costs that connection
only, and every waiting call is served in turn."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import app_role
from services.common.statement_pool import StatementPool, Together

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


# --- calls that wait run together (group commit) -----------------------------------------------

# A toy statement with a unique key: `solo` puts one number, `call` puts many, in turn, in
# one statement (and so one transaction).
PUT = Together(
    solo="INSERT INTO put_test (n) VALUES ($1) RETURNING n, pg_backend_pid()",
    call="SELECT * FROM pg_temp.put_many($1::int[], $2::int[])",
    setup="""CREATE OR REPLACE FUNCTION pg_temp.put_many(_k int[], _n int[])
RETURNS TABLE (n int, pid int, call int) LANGUAGE plpgsql AS $f$
BEGIN
  FOR _j IN 1 .. cardinality(_k) LOOP
    RETURN QUERY INSERT INTO put_test (n) VALUES (_n[_j]) RETURNING put_test.n, pg_backend_pid(), _k[_j];
  END LOOP;
END $f$""",
    pack=lambda calls: ([k for k, _a in calls], [a[0] for _k, a in calls]),
)


@pytest.fixture
async def one(make_db):
    """A pool of one connection, and a way to keep that connection busy for a moment."""
    sdb = await make_db("voucher")
    url = sdb.owner_url
    setup = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        await setup.execute("CREATE TABLE put_test (n int PRIMARY KEY)")
    finally:
        await setup.close()
    p = StatementPool(lambda: asyncpg.connect(**asyncpg_connect_kwargs(url)), 1)
    p.url = url  # type: ignore[attr-defined]
    yield p
    await p.close()


async def _put(pool: StatementPool) -> list[int]:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(pool.url))  # type: ignore[attr-defined]
    try:
        return [r[0] for r in await conn.fetch("SELECT n FROM put_test ORDER BY n")]
    finally:
        await conn.close()


async def _busy(pool: StatementPool) -> asyncio.Task:
    task = asyncio.create_task(pool.fetchrow("SELECT pg_sleep(0.1)"))
    await asyncio.sleep(0)  # it has the pool's one connection
    return task


async def test_a_call_that_finds_a_connection_free_runs_alone_at_once(one):
    row = await one.fetchrow_together(PUT, 7)
    assert row[0] == 7 and len(row) == 2  # solo's answer
    assert (one.statements_together, one.calls_together) == (0, 0)


async def test_calls_waiting_for_a_connection_run_in_one_statement(one):
    busy = await _busy(one)
    rows = await asyncio.gather(*(one.fetchrow_together(PUT, n) for n in range(1, 11)))
    await busy
    assert [r[0] for r in rows] == list(range(1, 11))  # each its own answer
    assert len({r[1] for r in rows}) == 1
    assert (one.statements_together, one.calls_together, one.statements_undone) == (1, 10, 0)
    assert await _put(one) == list(range(1, 11))


async def test_no_more_than_max_calls_run_in_one_statement(one):
    busy = await _busy(one)
    rows = await asyncio.gather(*(one.fetchrow_together(PUT, n) for n in range(1, 41)))
    await busy
    assert [r[0] for r in rows] == list(range(1, 41))
    assert one.calls_together == 40 and one.statements_together == 40 // PUT.max_calls + 1


async def test_one_call_refused_undoes_the_statement_and_each_then_runs_alone(one):
    busy = await _busy(one)
    answers = await asyncio.gather(
        *(one.fetchrow_together(PUT, n) for n in [1, 2, 3, 2, 4]), return_exceptions=True
    )
    await busy
    assert [a[0] if not isinstance(a, BaseException) else "dup" for a in answers] == [
        1,
        2,
        3,
        "dup",
        4,
    ]
    assert isinstance(answers[3], asyncpg.UniqueViolationError)
    assert one.statements_undone == 1 and one.statements_together == 0
    assert await _put(one) == [1, 2, 3, 4]  # each once


async def test_a_call_given_up_while_waiting_is_left_out(one):
    busy = await _busy(one)
    calls = [asyncio.create_task(one.fetchrow_together(PUT, n)) for n in range(1, 5)]
    await asyncio.sleep(0.01)
    calls[1].cancel()
    await busy
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert await _put(one) == [1, 3, 4]


async def test_calls_waiting_when_the_pool_closes_are_told(one):
    busy = await _busy(one)
    calls = [asyncio.create_task(one.fetchrow_together(PUT, n)) for n in range(1, 4)]
    await asyncio.sleep(0.01)
    await one.close()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(d, asyncpg.InterfaceError) for d in done), done
    await asyncio.gather(busy, return_exceptions=True)
    assert await _put(one) == []


async def test_through_pgbouncer_every_call_runs_alone(one):
    one.together = False
    busy = await _busy(one)
    rows = await asyncio.gather(*(one.fetchrow_together(PUT, n) for n in range(1, 6)))
    await busy
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert one.statements_together == 0


async def test_a_database_that_refuses_temporary_functions_runs_every_call_alone(make_db):
    """A hardened database (TEMP revoked from the service's role) cannot hold the function
    that runs calls together: the calls still run, each alone, and later ones do not try."""
    sdb = await make_db("voucher")
    owner = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    try:
        await owner.execute("CREATE TABLE put_test (n int PRIMARY KEY)")
        await owner.execute(f"GRANT INSERT, SELECT ON put_test TO {app_role('voucher')}")
        await owner.execute(f'REVOKE TEMPORARY ON DATABASE "{sdb.name}" FROM PUBLIC')
    finally:
        await owner.close()
    p = StatementPool(lambda: asyncpg.connect(**asyncpg_connect_kwargs(sdb.app_url)), 1)
    p.url = sdb.owner_url  # type: ignore[attr-defined]
    try:
        for start in (1, 6):
            busy = await _busy(p)
            rows = await asyncio.gather(
                *(p.fetchrow_together(PUT, n) for n in range(start, start + 5))
            )
            await busy
            assert [r[0] for r in rows] == list(range(start, start + 5))
        assert p.together is False and p.statements_together == 0
        assert await _put(p) == list(range(1, 11))
    finally:
        await p.close()
