"""Operations: metrics and readiness show event delivery; migrations are reversible."""

import asyncio
from typing import Any

from services.common.db import Database
from services.common.migrate import downgrade, upgrade
from services.ledger.repository import audit as audit_repo
from tests.ledger.conftest import redemption


async def test_metrics_and_readiness_show_event_delivery(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(10_000)
    good = redemption(100)
    await ledger.events([good, redemption(999_999), good])
    m = (await ledger.c.get("/v1/metrics", headers=ledger.service)).json()
    counts = {(e["type"], e["status"]): e["count"] for e in m["events"]}
    assert counts == {("redemption.created", "applied"): 1, ("redemption.created", "rejected"): 1}
    assert m["entries"] == 4 and m["recent_delivery_lag_s"] is not None
    ready = await ledger.c.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "recent_delivery_lag_s" in ready.json()["checks"]["event_delivery"]


async def test_migrations_go_down_and_up_again(make_db):
    sdb = await make_db("ledger")
    await asyncio.to_thread(downgrade, "ledger", sdb.owner_url, "base")
    await asyncio.to_thread(upgrade, "ledger", sdb.owner_url)


async def test_the_delivery_lag_is_that_of_the_last_events_received_whenever_they_came(ledger):
    """The metrics' lag of the last 100 events reads the recent block ranges of ledger_event
    (a BRIN index on `received_at`, ledger_1301: no btree written per event) and widens its
    window until it holds 100 events: the same answer as ordering every event by arrival,
    whether the last ones came a second, an hour or months ago."""
    conn = await ledger.owner()
    db = Database(ledger.sdb.app_url)
    try:

        async def add(n: int, received_ago: str, lag: str) -> None:
            await conn.execute(
                "INSERT INTO ledger_event (event_id, type, status, request_hash, error_code, "
                "occurred_at, received_at) SELECT gen_random_uuid(), 'redemption.created', "
                "'rejected', '\\x00'::bytea, 'TEST', now() - $2::text::interval - $3::text::interval, "
                "now() - $2::text::interval FROM generate_series(1, $1)",
                n,
                received_ago,
                lag,
            )

        async def expected() -> tuple[Any, ...]:
            row = await conn.fetchrow(
                "SELECT max(occurred_at), max(received_at), "
                "extract(epoch FROM avg(received_at - occurred_at))::float8 FROM ("
                "SELECT occurred_at, received_at FROM ledger_event "
                "ORDER BY received_at DESC LIMIT 100) r"
            )
            return tuple(row)

        async def lag() -> tuple[Any, ...]:
            async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as s:
                found = await audit_repo.event_lag(s)
            return (found.last_occurred_at, found.last_received_at, found.recent_lag_s)

        await add(150, "400 days", "2 seconds")  # only long ago: the widest window
        assert await lag() == await expected()
        await add(40, "3 hours", "5 seconds")  # the day's window holds 40: not enough
        assert await lag() == await expected()
        await add(120, "30 minutes", "1 second")  # the hour's window holds 120
        assert await lag() == await expected()
        await add(100, "1 second", "0 seconds")  # the minute's holds them all
        assert await lag() == await expected()
        assert (await lag())[2] == 0.0

        async with conn.transaction():  # the window's statement reads the BRIN index
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = await conn.fetchval(
                "EXPLAIN (FORMAT JSON) SELECT received_at FROM ledger_event "
                "WHERE received_at >= now() - interval '1 minute' "
                "ORDER BY received_at DESC LIMIT 100"
            )
        assert "ix_ledger_event_received_at_brin" in plan
    finally:
        await conn.close()
        await db.dispose()


async def test_readiness_reads_the_last_events_and_never_counts_the_event_log(ledger, monkeypatch):
    """Readiness is probed every few seconds: it answers the delivery lag from the last events
    received, as the metrics do, without counting every event the ledger ever received (a
    scan of the whole event log per probe, which `/v1/metrics` still does)."""
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(10_000)
    await ledger.events([redemption(100)])
    m = (await ledger.c.get("/v1/metrics", headers=ledger.service)).json()

    async def no_counting(*_: Any) -> None:
        raise AssertionError("readiness counted the event log")

    monkeypatch.setattr(audit_repo, "event_counts", no_counting)
    ready = await ledger.c.get("/readyz")
    assert ready.status_code == 200, ready.text
    delivery = ready.json()["checks"]["event_delivery"]
    assert delivery["ok"] is True
    assert delivery["last_event_received_at"] == m["last_event_received_at"]
    assert delivery["recent_delivery_lag_s"] == m["recent_delivery_lag_s"]
