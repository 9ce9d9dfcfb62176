"""Operations: metrics and readiness show event delivery; migrations are reversible."""

import asyncio
import contextlib
from typing import Any

import asyncpg

from services.common.db import Database, asyncpg_connect_kwargs
from services.common.migrate import downgrade, upgrade
from services.ledger.repository import audit as audit_repo
from services.ledger.service import audit
from tests.ledger.conftest import Ledger, redemption, void
from tests.ledger.test_books import LIUZHOU, NANNING, redemption_in, two_books


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
    scan of the whole event log per probe)."""
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


async def _metric_counts(ledger: Ledger) -> dict[tuple[str, str], int]:
    r = await ledger.c.get("/v1/metrics", headers=ledger.service)
    assert r.status_code == 200, r.text
    return {(e["type"], e["status"]): e["count"] for e in r.json()["events"]}


async def _logged(conn: asyncpg.Connection) -> dict[tuple[str, str], int]:
    rows = await conn.fetch("SELECT type, status, count(*) FROM ledger_event GROUP BY 1, 2")
    return {(r[0], r[1]): r[2] for r in rows}


async def test_metrics_count_events_from_their_tally_not_by_scanning_the_event_log(ledger):
    """Batches of two books racing on real connections, with repeats, refusals and voids:
    the metrics' counts equal the event log's, yet come from the tally its statement trigger
    keeps (ledger_1404). Rows slipped into the log with the triggers off change nothing in
    them: the metrics do not count the log (a scan of every event, 10M in a year)."""
    await two_books(ledger)
    first = [redemption_in(NANNING, 5), redemption_in(LIUZHOU, 6)]
    await ledger.events(first)

    async def batch(region: str, n: int) -> None:
        events = [redemption_in(region, 7) for _ in range(n)]
        events.append(redemption_in(region, 99_999_999))  # refused: overdraws the vouchers
        await ledger.events([*events, events[0]])  # (a repeat inside the batch)

    await asyncio.gather(*(batch(r, 5) for r in (NANNING, LIUZHOU, NANNING, LIUZHOU)))
    await ledger.events([void(first[0]), first[1]])  # (a repeat of an earlier batch's event)
    conn = await ledger.owner()
    try:
        logged = await _logged(conn)
        assert logged[("redemption.created", "applied")] == 3 + 2 + 4 * 5
        assert logged[("redemption.created", "rejected")] == 4
        assert logged[("redemption.voided", "applied")] == 1
        assert await _metric_counts(ledger) == logged
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "INSERT INTO ledger_event (event_id, type, status, request_hash, error_code) "
                "SELECT gen_random_uuid(), 'redemption.created', 'rejected', '\\x00', 'TEST' "
                "FROM generate_series(1, 50)"
            )
        assert (await _logged(conn))[("redemption.created", "rejected")] == 54
        assert await _metric_counts(ledger) == logged
    finally:
        await conn.close()


async def test_the_event_tally_folds_into_a_row_a_type_and_outcome_while_batches_race(
    ledger, monkeypatch
):
    """Each batch appends its own tally rows (two books never wait on a shared counter);
    folding sums them into one row a (type, status) in one statement. Folds racing each
    other and batches of both books still count every event once."""
    await two_books(ledger)
    for region in (NANNING, LIUZHOU):
        await ledger.events([redemption_in(region, 1)])
    conn = await ledger.owner()
    db = Database(ledger.sdb.app_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM ledger_event_tally") >= 3

        async def batches(region: str) -> None:
            for _ in range(8):
                await ledger.events([redemption_in(region, 2), redemption_in(region, 10**9)])

        async def folds() -> None:
            for _ in range(8):
                await audit.fold_event_tally(db)
                await asyncio.sleep(0)

        await asyncio.gather(batches(NANNING), batches(LIUZHOU), folds(), folds())
        assert await _metric_counts(ledger) == await _logged(conn)
        await audit.fold_event_tally(db)
        tally = await conn.fetch("SELECT type, status, n FROM ledger_event_tally")
        assert {(r[0], r[1]): r[2] for r in tally} == await _logged(conn)
        assert len(tally) == 2  # redemption.created: applied and rejected

        # The metrics fold the tally themselves once it has grown past TALLY_FOLD_ROWS rows.
        monkeypatch.setattr(audit, "TALLY_FOLD_ROWS", 3)
        for region in (NANNING, LIUZHOU, NANNING):
            await ledger.events([redemption_in(region, 3)])
        assert await conn.fetchval("SELECT count(*) FROM ledger_event_tally") == 5
        assert await _metric_counts(ledger) == await _logged(conn)
        assert await conn.fetchval("SELECT count(*) FROM ledger_event_tally") == 2
    finally:
        await db.dispose()
        await conn.close()


async def test_the_tally_starts_from_the_events_recorded_before_it(make_db):
    """Migrating a ledger that has recorded events: the tally begins at their counts."""
    sdb = await make_db("ledger")
    await asyncio.to_thread(downgrade, "ledger", sdb.owner_url, "ledger_1403")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    try:
        assert await conn.fetchval("SELECT to_regclass('ledger_event_tally')") is None
        await conn.execute(
            "INSERT INTO ledger_event (event_id, type, status, request_hash, error_code) "
            "SELECT gen_random_uuid(), t, 'rejected', '\\x00', 'TEST' "
            "FROM unnest(ARRAY['redemption.created', 'redemption.voided']) t, "
            "generate_series(1, 3)"
        )
        await asyncio.to_thread(upgrade, "ledger", sdb.owner_url)
        rows = await conn.fetch("SELECT type, status, n FROM ledger_event_tally ORDER BY 1")
        assert [tuple(r) for r in rows] == [
            ("redemption.created", "rejected", 3),
            ("redemption.voided", "rejected", 3),
        ]
    finally:
        await conn.close()


async def test_the_snapshot_job_folds_the_event_tally(ledger):
    """The ledger's periodic job keeps the tally short even when no one reads the metrics."""
    from services.ledger.service import snapshots

    await two_books(ledger)
    for region in (NANNING, LIUZHOU, NANNING):
        await ledger.events([redemption_in(region, 4)])
    conn = await ledger.owner()
    db = Database(ledger.sdb.app_url)
    job = asyncio.create_task(snapshots.snapshot_forever(db, 0.05))
    try:
        assert await conn.fetchval("SELECT count(*) FROM ledger_event_tally") >= 4
        for _ in range(200):
            if await conn.fetchval("SELECT count(*) FROM ledger_event_tally") == 1:
                break
            await asyncio.sleep(0.05)
        tally = await conn.fetch("SELECT type, status, n FROM ledger_event_tally")
        assert [tuple(r) for r in tally] == [("redemption.created", "applied", 6)]
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await db.dispose()
        await conn.close()
