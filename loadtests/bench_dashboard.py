"""`yiyang bench dashboard`: the civil-affairs dashboard at provincial scale.

Seeds a voucher database set-wise (generate_series, bypassing the API): `--beneficiaries`
people over 14 cities x 8 counties x 10 townships, a voucher each for `--periods` months,
and `--redemptions` redemptions over those vouchers (one in 40 voided). The summaries are
filled as the cold paths fill them (the enrolment and issuance statement triggers fire on
the seeding INSERTs); the redemptions' sums are filled set-wise like the migration's fill,
except the last `--events` redemptions, which are put in the outbox as `redemption.created`
and folded by the summariser (`service/summary.py`) while it is timed. Then it times:

- the summary reads of the dashboard (enrolment, use by programme, trend, sub-regions) and
  the whole `service.dashboard()` (which also reads every active person's location for the
  care circle) for the province, a city and a county, `--reps` times each;
- with `--scan`, the scanning queries the dashboard used before (the reference), once for
  the province, and checks the summaries' province totals equal them.

    python3 dev.py bench dashboard [--beneficiaries 1000000] [--redemptions 10000000]
        [--periods 3] [--events 200000] [--reps 5] [--scan] [--database-url URL]

Without `--database-url` the run has its own embedded PostgreSQL under
reports/bench-dashboard-*/pg (removed afterwards unless `--keep`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg

from services.common import embedded_pg
from services.common.db import Database, asyncpg_connect_kwargs
from services.common.migrate import drop_database, prepare_service_database
from services.voucher.repository import dashboard as repo
from services.voucher.service import dashboard as service
from services.voucher.service import summary

PERIOD_LAST = "2026-11"
CHUNK = 250_000


def say(text: str) -> None:
    print(f"[bench dashboard] {text}", flush=True)


def _periods(n: int) -> list[str]:
    out = []
    y, m = 2026, 11
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


# township code of person i: 45 + city (01..14) + county (01..08) + township (001..010)
_REGION = (
    "'45' || lpad((1 + i % 14)::text, 2, '0') || lpad((1 + (i / 14) % 8)::text, 2, '0')"
    " || lpad((1 + (i / 112) % 10)::text, 3, '0')"
)


async def _timed(conn: asyncpg.Connection, label: str, sql: str, *args: Any) -> None:
    t = time.perf_counter()
    await conn.execute(sql, *args)
    say(f"  {label}: {time.perf_counter() - t:.1f} s")


async def seed(url: str, people: int, redemptions: int, periods: list[str], events: int) -> None:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        await conn.execute("SET synchronous_commit = off")
        say(f"seeding {people:,} people")
        for lo in range(1, people + 1, CHUNK):
            hi = min(lo + CHUNK - 1, people)
            await _timed(
                conn,
                f"people {lo:,}..{hi:,}",
                f"""INSERT INTO beneficiary (id, national_id_enc, national_id_hash, name,
                       birth_on, sex, region_code, address, care_setting, grade, status,
                       lat, lon, dibao, created_by)
                    SELECT gen_random_uuid(), decode(md5(i::text), 'hex'),
                           decode(md5('h' || i), 'hex'), '测试',
                           date '1935-01-01' + i % 9000, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
                           {_REGION}, '地址',
                           (ARRAY['home', 'community', 'institution'])[1 + i % 3],
                           CASE WHEN i % 11 = 0 THEN NULL ELSE i % 5 END,
                           CASE WHEN i % 50 = 0 THEN 'suspended' ELSE 'active' END,
                           22.5 + (i % 1000) / 2000.0, 108.0 + (i % 997) / 2000.0, false, 'bench'
                      FROM generate_series($1::int, $2::int) AS i""",
                lo,
                hi,
            )
        for period in periods:
            await _timed(
                conn,
                f"vouchers of {period}",
                """INSERT INTO voucher (id, beneficiary_id, program_code, program_version,
                       period, face_fen, balance_fen, valid_from, valid_until, status,
                       region_code, budget_region_code, care_setting, funding_shares,
                       allowed_kinds, allowed_categories, spend_region_prefix)
                   SELECT gen_random_uuid(), b.id,
                          CASE WHEN b.care_setting = 'home' THEN 'meal_subsidy'
                               ELSE 'disability_subsidy' END,
                          1, $1, 50000, 0, now(), now() + interval '30 days', 'active',
                          b.region_code, left(b.region_code, 4) || '00', b.care_setting,
                          '{"central": 9500, "regional": 500}'::jsonb, '{}', '{}',
                          left(b.region_code, 4)
                     FROM beneficiary b""",
                period,
            )
        await _timed(
            conn,
            "numbering the vouchers",
            """CREATE UNLOGGED TABLE bench_v AS
               SELECT row_number() OVER () AS n, id, beneficiary_id FROM voucher;
               CREATE UNIQUE INDEX ON bench_v (n); ANALYZE bench_v""",
        )
        vouchers = await conn.fetchval("SELECT count(*) FROM bench_v")
        say(f"seeding {redemptions:,} redemptions over {vouchers:,} vouchers")
        tail_from = redemptions - events + 1
        for lo in range(1, redemptions + 1, CHUNK * 2):
            hi = min(lo + CHUNK * 2 - 1, redemptions)
            await _timed(
                conn,
                f"redemptions {lo:,}..{hi:,}",
                """INSERT INTO redemption (id, voucher_id, beneficiary_id, provider_id,
                       terminal_id, service_code, category, gross_fen, subsidy_fen, copay_fen,
                       balance_after_fen, idempotency_key, request_hash, day_on, status,
                       voided_at, void_reason)
                   SELECT gen_random_uuid(), v.id, v.beneficiary_id, 'P' || g % 5000,
                          CASE WHEN g >= $4 THEN 'tail' END, 'CARE_BATH', 'bathing', 8000,
                          4000 + g % 100, 4000 - g % 100, 0, 'k' || g, '\\x00'::bytea,
                          date '2026-11-01' + (g % 28)::int,
                          CASE WHEN g % 40 = 0 AND g < $4 THEN 'voided' ELSE 'completed' END,
                          CASE WHEN g % 40 = 0 AND g < $4 THEN now() END,
                          CASE WHEN g % 40 = 0 AND g < $4 THEN 'bench' END
                     FROM generate_series($1::bigint, $2::bigint) AS g
                     JOIN bench_v v ON v.n = 1 + g % $3""",
                lo,
                hi,
                vouchers,
                tail_from,
            )
        await _timed(
            conn,
            "summing the redemptions (all but the event tail) into summary_use",
            """UPDATE summary_use s SET redemptions = x.n, redeemed_fen = x.fen
                 FROM (SELECT v.region_code, v.program_code, v.period, count(*) AS n,
                              sum(r.subsidy_fen) AS fen
                         FROM redemption r JOIN voucher v ON v.id = r.voucher_id
                        WHERE r.status <> 'voided' AND r.terminal_id IS NULL
                        GROUP BY 1, 2, 3) x
                WHERE (s.region_code, s.program_code, s.period)
                    = (x.region_code, x.program_code, x.period)""",
        )
        await _timed(
            conn,
            f"the last {events:,} redemptions as outbox events",
            """INSERT INTO outbox (event_id, type, payload, occurred_at)
               SELECT gen_random_uuid(), 'redemption.created',
                      jsonb_build_object('program_code', v.program_code,
                        'region_code', v.region_code, 'budget_region_code',
                        v.budget_region_code, 'period', v.period,
                        'redemption_id', r.id::text, 'subsidy_fen', r.subsidy_fen),
                      now() - interval '1 hour'
                 FROM redemption r JOIN voucher v ON v.id = r.voucher_id
                WHERE r.terminal_id = 'tail'""",
        )
        await conn.execute("DROP TABLE bench_v")
        await _timed(conn, "VACUUM ANALYZE", "VACUUM ANALYZE")
    finally:
        await conn.close()


async def _summary_reads(db: Database, region: str, period: str) -> None:
    """What the dashboard reads of the summaries (service/dashboard.py's repo calls)."""
    from services.common.regions import significant_prefix

    prefix = significant_prefix(region)
    like = prefix + "%"
    digits = service._CHILD_DIGITS.get(len(prefix))
    async with db.unit_of_work(readonly=True) as s:
        await repo.enrolled(s, like)
        await repo.use(s, like, period=period, key="program")
        await repo.use(s, like, period=None, key="period")
        if digits:
            await repo.enrolled_by_child(s, like, digits)
            await repo.use(s, like, period=period, key="child", digits=digits)


async def _whole(db: Database, region: str, period: str) -> None:
    async with db.unit_of_work(readonly=True) as s:
        await service.dashboard(s, region, period)


async def _time(fn: Any, reps: int, *args: Any) -> str:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        await fn(*args)
        times.append((time.perf_counter() - t) * 1000)
    return f"median {statistics.median(times):,.0f} ms, max {max(times):,.0f} ms"


async def measure(url: str, reps: int, scan: bool) -> None:
    db = Database(url, pool_size=2)
    try:
        t = time.perf_counter()
        folded = 0
        while True:
            n = await summary.catch_up(db, batch_size=5_000, settle_s=0, max_batches=50)
            folded += n
            if n == 0:
                break
        dt = time.perf_counter() - t
        say(f"summariser: {folded:,} events folded in {dt:.1f} s ({folded / dt:,.0f}/s)")
        for region in ("450000", "450100", "450101"):
            say(f"{region} summary reads:      {await _time(_summary_reads, reps, db, region, PERIOD_LAST)}")  # fmt: skip
            say(f"{region} whole dashboard(): {await _time(_whole, reps, db, region, PERIOD_LAST)}")  # fmt: skip
        if scan:
            from loadtests.dashboard_scan import scan_enrolled, scan_use

            async with db.unit_of_work(readonly=True) as s:
                t = time.perf_counter()
                scanned = await scan_use(s, "45%", period=PERIOD_LAST, key="program")
                people = await scan_enrolled(s, "45%")
                say(f"450000 scanning queries (before): {time.perf_counter() - t:.1f} s")
                summed = await repo.use(s, "45%", period=PERIOD_LAST, key="program")
                assert summed == scanned, (summed, scanned)
                assert sorted(await repo.enrolled(s, "45%"), key=str) == sorted(people, key=str)
                say("the summaries' province figures equal the scanning queries")
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="yiyang bench dashboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--beneficiaries", type=int, default=1_000_000)
    p.add_argument("--redemptions", type=int, default=10_000_000)
    p.add_argument("--periods", type=int, default=3, help="months of vouchers")
    p.add_argument("--events", type=int, default=200_000, help="redemptions left to the summariser")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--scan", action="store_true", help="time the scanning queries too, and compare")
    p.add_argument("--database-url", help="an admin URL (default: an embedded server)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = p.parse_args(argv)
    events = min(args.events, args.redemptions)
    run_dir = Path("reports") / f"bench-dashboard-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.database_url:
        admin = args.database_url
        name: str | None = f"yiyang_bench_dashboard_{int(time.time())}"
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        say(f"starting embedded PostgreSQL under {run_dir / 'pg'}")
        admin = embedded_pg.start(run_dir / "pg", stop_at_exit=True)
        name = None
    try:
        say("migrating a voucher database")
        owner, _ = asyncio.run(prepare_service_database(admin, "voucher", name))
        t = time.perf_counter()
        asyncio.run(seed(owner, args.beneficiaries, args.redemptions, _periods(args.periods), events))  # fmt: skip
        say(f"seeded in {time.perf_counter() - t:.0f} s: {args.beneficiaries:,} people, "
            f"{args.beneficiaries * args.periods:,} vouchers, {args.redemptions:,} redemptions")  # fmt: skip
        asyncio.run(measure(owner, args.reps, args.scan))
    finally:
        if name is not None and not args.keep:
            asyncio.run(drop_database(admin, name))
        if name is None:
            embedded_pg.stop(run_dir / "pg")
            if not args.keep:
                shutil.rmtree(run_dir / "pg", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
