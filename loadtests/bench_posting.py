"""`yiyang bench posting`: ledger postings into 4 books at once against into one book.

Four poster processes (real connections, each its own asyncpg pool of one) apply batches of
redemption events through the ledger's own posting path (`service.events.apply_events`: head
locks, accounts, set-wise entries and postings, the chain and balance triggers), for
`--duration` seconds, first all into one book (every poster's events in Nanning: they take
turns on its head row), then each into its own book (four cities: nothing shared). Runs
alternate (`--reps` of each) on a fresh migrated ledger database, so the noise of a shared
machine shows as the spread of each side; the load average is reported beside them.

    python3 dev.py bench posting [--duration 5] [--reps 3] [--batch 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import drop_database, prepare_service_database
from services.ledger.repository import posting
from services.ledger.schemas import EventIn
from services.ledger.service import plans
from services.ledger.service.events import apply_events

CITIES = ("450100", "450200", "450300", "450400")
SHARES = {"central": 9500, "regional": 500}
PROGRAM = "disability_subsidy"
POSTERS = 4


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


def _events(city: str, n: int) -> list[EventIn]:
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
                "provider_id": f"p{i % 7}",
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
    args = p.parse_args(argv)
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
