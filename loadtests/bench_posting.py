"""`yiyang bench posting`: ledger postings into 4 books at once against into one book.

Four poster processes (real connections, each its own asyncpg pool of one) apply batches of
redemption events through the ledger's own posting path (`service.events.apply_events`: head
locks, accounts, set-wise entries and postings, the chain and balance triggers), for
`--duration` seconds, first all into one book (every poster's events in Nanning: they take
turns on its head row), then each into its own book (four cities: nothing shared). Runs
alternate (`--reps` of each) on a fresh migrated ledger database, so the noise of a shared
machine shows as the spread of each side; the load average is reported beside them.

    python3 dev.py bench posting [--duration 5] [--reps 3] [--batch 50] [--database-url URL]

`--cost N --against REVISION` measures instead what posting one event costs the database, on
this server alone (an embedded one under `--pg DIR`, so that no one else's writes count):
N events in batches through one connection, into a database at the head and into one
migrated down to REVISION (e.g. the head before an index change), alternating `--reps`
times: WAL bytes and records per event (`pg_stat_wal`; the same in every round, whatever
the machine's load), btree index entries written per event, and the server process's CPU
per event (its /proc times).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import downgrade, drop_database, prepare_service_database
from services.ledger.repository import posting
from services.ledger.schemas import EventIn
from services.ledger.service import plans
from services.ledger.service.events import apply_events

CITIES = ("450100", "450200", "450300", "450400")
SHARES = {"central": 9500, "regional": 500}
PROGRAM = "disability_subsidy"
POSTERS = 4
# Providers the events are spread over: a city's programme pays hundreds to thousands of meal
# points and care providers, and a batch's lookups and balance updates grow with them.
PROVIDERS = 2000


def say(text: str) -> None:
    print(f"[bench posting] {text}", flush=True)


async def _fund(url: str, amount: int) -> None:
    """Budget appropriated and committed to vouchers in every city (one entry each)."""
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        for city in CITIES:
            async with conn.transaction():
                book = [
                    plans.appropriation(
                        program_code=PROGRAM,
                        region_code=city,
                        by_source={"central": amount, "regional": amount},
                        created_by="bench",
                        idempotency_key=f"appr:{uuid.uuid4()}",
                        memo="bench",
                    ),
                    plans.commitment(
                        purpose="voucher",
                        program_code=PROGRAM,
                        budget_region_code=city,
                        amount_fen=amount,
                        shares_bp=SHARES,
                        created_by="bench",
                        idempotency_key=f"commit:{uuid.uuid4()}",
                        ref=str(uuid.uuid4()),
                    ),
                ]
                heads = await posting.lock_heads(conn, posting.books_of(book))
                keys = (p.account for plan in book for p in plan.postings)
                accounts = await posting.resolve_accounts(conn, keys)
                await posting.write_entries(conn, heads, book, accounts)
    finally:
        await conn.close()


def _events(city: str, n: int, providers: int = PROVIDERS) -> list[EventIn]:
    """`n` redemption events of one city, each at one of `providers` providers (a provider's
    payable is an account of its own: a batch posts to as many as its providers)."""
    now = datetime.now(UTC)
    return [
        EventIn(
            event_id=uuid.uuid4(),
            type="redemption.created",
            occurred_at=now,
            payload={
                "program_code": PROGRAM,
                "region_code": city[:4] + "03",
                "budget_region_code": city,
                "period": "2026-11",
                "funding_shares": SHARES,
                "redemption_id": str(uuid.uuid4()),
                "voucher_id": f"v-{i}",
                "beneficiary_id": f"b-{i}",
                "provider_id": f"p{random.randrange(providers)}",
                "service_code": "MEAL_LUNCH",
                "gross_fen": 1300,
                "subsidy_fen": 1000,
                "copay_fen": 300,
            },
        )
        for i in range(n)
    ]


async def _post(
    url: str, city: str, batch: int, duration: float, start_at: float
) -> tuple[int, float]:
    pool = await asyncpg.create_pool(**asyncpg_connect_kwargs(url), min_size=1, max_size=1)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0, t0, n = time.process_time(), time.monotonic(), 0
        while time.monotonic() - t0 < duration:
            results = await apply_events(pool, _events(city, batch), "bench")
            n += sum(r.status == "applied" for r in results)
        return n, time.process_time() - cpu0
    finally:
        await pool.close()


def _poster(args: tuple[str, str, int, float, float]) -> tuple[int, float]:
    return asyncio.run(_post(*args))


def _round(url: str, cities: list[str], batch: int, duration: float) -> dict[str, Any]:
    start_at = time.time() + 1.0  # every poster connected before the clock starts
    with mp.get_context("spawn").Pool(len(cities)) as procs:
        out = procs.map(_poster, [(url, c, batch, duration, start_at) for c in cities])
    events = sum(n for n, _ in out)
    return {
        "events": events,
        "rate": events / duration,
        "poster_cpu_s": round(sum(c for _, c in out), 2),
        "poster_cpu_ms_per_event": round(1000 * sum(c for _, c in out) / max(1, events), 3),
        "load": round(os.getloadavg()[0], 2),
    }


def _spread(rates: list[float]) -> str:
    med = statistics.median(rates)
    lo, hi = min(rates), max(rates)
    return f"median {med:,.0f}/s (min {lo:,.0f}, max {hi:,.0f}, spread {(hi - lo) / med:.0%})"


def _backend_cpu_s(pid: int) -> float:
    """A server process's user and system CPU so far (Linux /proc, clock ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _cost_round(url: str, events: int, batch: int, providers: int) -> dict[str, float]:
    """`events` redemption events posted in batches through one connection: what each cost
    the server in WAL and CPU."""
    pool = await asyncpg.create_pool(**asyncpg_connect_kwargs(url), min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        # warm: plans, and every provider's accounts opened
        for _ in range(max(1, 2 * providers // batch)):
            await apply_events(pool, _events(CITIES[0], batch, providers), "bench")

        async def wal() -> tuple[int, int]:
            """WAL records (the stats the backend flushed: forced, then waited for) and
            bytes (the insert position) written so far."""
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_stat_force_next_flush()")
            await asyncio.sleep(1.2)
            async with pool.acquire() as conn:
                records = await conn.fetchval("SELECT wal_records FROM pg_stat_wal")
                at = await conn.fetchval(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
                )
            return int(records), int(at)

        tables = ("posting", "entry", "ledger_event")
        count_rows = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
        async with pool.acquire() as conn:
            rows0 = await conn.fetchrow(count_rows)
            # every btree index of the tables, with its predicate: a partial index holds an
            # entry only for the rows that match it (a BRIN index writes nothing per row)
            indexes = await conn.fetch(
                "SELECT c.relname, x.relname AS index, pg_get_expr(i.indpred, i.indrelid) AS pred "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am m ON m.oid = x.relam "
                "WHERE m.amname <> 'brin' AND c.relname = ANY($1::text[])",
                list(tables),
            )
            count_entries = "SELECT " + ", ".join(
                f"(SELECT count(*) FROM {ix['relname']}"
                + (f" WHERE {ix['pred']})" if ix["pred"] else ")")
                for ix in indexes
            )
            entries0 = await conn.fetchrow(count_entries)
        r0, b0 = await wal()
        cpu0, n = _backend_cpu_s(pid), 0
        while n < events:
            city = CITIES[n // batch % 4]
            results = await apply_events(pool, _events(city, batch, providers), "bench")
            n += sum(r.status == "applied" for r in results)
        cpu = _backend_cpu_s(pid) - cpu0
        r1, b1 = await wal()
        async with pool.acquire() as conn:
            rows1 = await conn.fetchrow(count_rows)
            entries1 = await conn.fetchrow(count_entries)
        per_event = {t: (rows1[i] - rows0[i]) / n for i, t in enumerate(tables)}
        count = {t: sum(ix["relname"] == t for ix in indexes) for t in tables}
        written = sum(entries1[i] - entries0[i] for i in range(len(indexes))) / n
        return {
            "wal_bytes_per_event": round((b1 - b0) / n, 1),
            "wal_records_per_event": round((r1 - r0) / n, 2),
            "server_cpu_ms_per_event": round(1000 * cpu / n, 4),
            **{f"{t}_rows_per_event": round(per_event[t], 3) for t in tables},
            **{f"{t}_btrees": count[t] for t in tables},
            # the index entries the events' rows really wrote (partial indexes counted for
            # the rows that match them only)
            "btree_entries_per_event": round(written, 2),
        }
    finally:
        await pool.close()


def cost(
    admin: str,
    events: int,
    batch: int,
    reps: int,
    against: str,
    own: bool,
    providers: int = PROVIDERS,
) -> dict[str, dict[str, float]]:
    """Posting's cost per event at the head against at `against`, alternating rounds. On a
    server of its own (`own`) full-page images are turned off first, so that the WAL of a
    round does not depend on when the last checkpoint fell: every round's bytes are then the
    records alone."""
    if own:

        async def no_page_images() -> None:
            conn = await asyncpg.connect(**asyncpg_connect_kwargs(admin))
            try:
                await conn.execute("ALTER SYSTEM SET full_page_writes = off")
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()

        asyncio.run(no_page_images())
    names = {"head": f"yiyang_bench_cost_{os.getpid()}", against: f"yiyang_bench_was_{os.getpid()}"}
    urls = {}
    try:
        for side, name in names.items():
            owner, app = asyncio.run(prepare_service_database(admin, "ledger", name))
            if side != "head":
                downgrade("ledger", owner, against)
            urls[side] = app
            asyncio.run(_fund(app, 10**12))
        seen: dict[str, list[dict[str, float]]] = {side: [] for side in names}
        for rep in range(reps):
            for side in names:
                r = asyncio.run(_cost_round(urls[side], events, batch, providers))
                seen[side].append(r)
                say(f"round {rep + 1}, {side}: {r}")
        medians = {}
        for side, rounds in seen.items():
            medians[side] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            say(f"{side} (median of {reps}): {medians[side]}")
        return medians
    finally:
        for name in names.values():
            asyncio.run(drop_database(admin, name))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="yiyang bench posting", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--duration", type=float, default=5.0, help="seconds per round")
    p.add_argument("--reps", type=int, default=3, help="rounds of each side, alternating")
    p.add_argument("--batch", type=int, default=50, help="events per ledger transaction")
    p.add_argument(
        "--database-url",
        default=os.environ.get("YIYANG_LOAD_DATABASE_URL")
        or os.environ.get("YIYANG_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (an admin URL): a scratch ledger database is made there",
    )
    p.add_argument(
        "--cost",
        type=int,
        default=0,
        metavar="EVENTS",
        help="measure the cost of posting EVENTS events instead (see above)",
    )
    p.add_argument(
        "--against",
        default="",
        metavar="REVISION",
        help="with --cost: the ledger revision to compare the head with",
    )
    p.add_argument("--providers", type=int, default=PROVIDERS,
                   help="providers the events are spread over (each its own payable accounts)")  # fmt: skip
    p.add_argument("--pg", default="", metavar="DIR",
                   help="with --cost: an embedded server's data directory (its own server)")  # fmt: skip
    args = p.parse_args(argv)
    if args.cost:
        from services.common import embedded_pg

        admin = embedded_pg.start(args.pg, stop_at_exit=True) if args.pg else args.database_url
        cost(
            admin,
            args.cost,
            args.batch,
            args.reps,
            args.against or "ledger_0801",
            bool(args.pg),
            args.providers,
        )
        return 0
    name = f"yiyang_bench_posting_{os.getpid()}"
    say(f"migrating a scratch ledger database {name}")
    _, app_url = asyncio.run(prepare_service_database(args.database_url, "ledger", name))
    try:
        asyncio.run(_fund(app_url, 10**12))
        _round(app_url, list(CITIES), args.batch, 1.0)  # warm up: caches, plans, accounts
        one: list[float] = []
        four: list[float] = []
        for rep in range(args.reps):
            r1 = _round(app_url, [CITIES[0]] * POSTERS, args.batch, args.duration)
            one.append(r1["rate"])
            say(f"round {rep + 1}: one book   {r1}")
            r4 = _round(app_url, list(CITIES), args.batch, args.duration)
            four.append(r4["rate"])
            say(f"round {rep + 1}: four books {r4}")
        ratio = statistics.median(four) / statistics.median(one)
        say(f"{POSTERS} posters, batches of {args.batch}, {args.duration:g} s a round, "
            f"{os.cpu_count()} cores, load average now {os.getloadavg()[0]:.2f}")  # fmt: skip
        say(f"one book:   {_spread(one)}")
        say(f"four books: {_spread(four)}")
        pairs = sorted(f / o for f, o in zip(four, one, strict=True) if o)
        say(f"four books / one book = {ratio:.2f}x (goal >= 1.5x); round by round "
            + ", ".join(f"{r:.2f}x" for r in pairs))  # fmt: skip
    finally:
        asyncio.run(drop_database(args.database_url, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
