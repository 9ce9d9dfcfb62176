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
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg

from services.common import embedded_pg
from services.common.db import Database, asyncpg_connect_kwargs
from services.common.migrate import drop_database, prepare_service_database
from services.common.regions import significant_prefix
from services.ledger.repository import budget as ledger_budget
from services.ledger.repository import posting as ledger_posting
from services.ledger.service import budget as ledger_service
from services.ledger.service import chart
from services.ledger.service.chart import AccountKey
from services.voucher.clients import BudgetLine
from services.voucher.repository import circle as circle_repo
from services.voucher.repository import dashboard as repo
from services.voucher.service import circle_summary, summary
from services.voucher.service import dashboard as service
from services.voucher.service.directory import ProviderDirectory

PERIOD_LAST = "2026-11"
CHUNK = 250_000
PROGRAMS = ("disability_subsidy", "meal_subsidy")
MEAL_M, CARE_M = 1_000, 1_500


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


# --- the providers (the care circle) -------------------------------------------------------

_MEAL_ITEM = {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1500}
_CARE_ITEM = {"code": "CARE_HOME", "name": "上门护理", "category": "home_care_hours",
              "price_fen": 5000}  # fmt: skip


def bench_provider(k: int, rnd: random.Random) -> dict[str, Any]:
    """Provider k over the people's square (22.5-23.0 N, 108.0-108.5 E): of every 8, three
    meal points, one community facility with a canteen (meal and care), four care providers;
    one in 20 suspended."""
    kind, services = (
        ("meal_point", [_MEAL_ITEM])
        if k % 8 < 3
        else ("community_embedded", [_MEAL_ITEM, _CARE_ITEM])
        if k % 8 == 3
        else ("home_care", [_CARE_ITEM])
    )
    return {
        "id": f"P{k}",
        "name": f"P{k}",
        "kind": kind,
        "status": "suspended" if k % 20 == 0 else "approved",
        "region_code": f"45{1 + k % 14:02d}{1 + (k // 14) % 8:02d}",
        "lat": 22.5 + rnd.random() * 0.5,
        "lon": 108.0 + rnd.random() * 0.5,
        "services": services,
    }


def bench_directory(n: int) -> tuple[ProviderDirectory, list[dict[str, Any]]]:
    rnd = random.Random(16)
    providers = [bench_provider(k, rnd) for k in range(n)]
    directory = ProviderDirectory()
    directory.apply({"version": 1, "providers": providers})
    return directory, providers


# --- the ledger (budget execution) ---------------------------------------------------------


async def seed_ledger(url: str, people: int, periods: list[str]) -> None:
    """The ledger entries that post to budget available (3001), set-wise: per city (the
    budget region), programme and month an appropriation, a commitment per 1,000 vouchers
    issued (each a share of 500 yuan a voucher), and an expiry per voucher (its unused balance back), each split 95/5 between
    the central and regional sources as the posting path splits them. Written by the owner
    with the journal's triggers off (`session_replication_role = replica`; hashes are
    placeholders: the chain is not what is measured), then the accounts' balances from the
    postings, budget expended (3002) set to 40 % of what was committed (the redemptions'
    entries are not seeded: both readings take spent from the account's balance), and
    `budget_execution` filled by the migration's statement."""
    cities = [f"45{c:02d}00" for c in range(1, 15)]
    keys = [
        AccountKey(code, program, city, source)
        for city in cities
        for program in PROGRAMS
        for code in (chart.TREASURY_CASH, chart.BUDGET_AVAILABLE, chart.BUDGET_EXPENDED)
        for source in ("central", "regional")
    ] + [
        AccountKey(chart.VOUCHERS_OUTSTANDING, program, city)
        for city in cities
        for program in PROGRAMS
    ]
    per_key = max(1, people // (len(cities) * len(PROGRAMS)))  # vouchers per city, programme, month
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        async with conn.transaction():
            await ledger_posting.resolve_accounts(conn, keys)
        await conn.execute(ledger_posting.OPEN_BOOKS, ["main"])
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET synchronous_commit = off")
        await _timed(
            conn,
            "ledger: the entries' plan",
            """CREATE UNLOGGED TABLE bench_e AS
               SELECT row_number() OVER () AS n, kind, program, city, period, amount
                 FROM (SELECT 'appropriation' AS kind, p AS program, c AS city, pe AS period,
                              $4::bigint * 60000 AS amount
                         FROM unnest($1::text[]) c, unnest($2::text[]) p, unnest($3::text[]) pe
                       UNION ALL
                       SELECT 'commitment', p, c, pe, $4::bigint * 50000 / greatest(1, $4 / 1000)
                         FROM unnest($1::text[]) c, unnest($2::text[]) p, unnest($3::text[]) pe,
                              generate_series(1, greatest(1, $4 / 1000)) k
                       UNION ALL
                       SELECT 'expiry', p, c, pe, 10000 + k % 20000
                         FROM unnest($1::text[]) c, unnest($2::text[]) p, unnest($3::text[]) pe,
                              generate_series(1, $4) k) x""",
            cities,
            list(PROGRAMS),
            periods,
            per_key,
        )
        await _timed(
            conn,
            "ledger: entries",
            """INSERT INTO entry (id, book, seq, kind, posted_at, period, program_code,
                   region_code, idempotency_key, created_by, prev_hash, hash)
               SELECT md5('bench-e' || n)::uuid, 'main', n, kind,
                      to_timestamp(period || '-15', 'YYYY-MM-DD'), period, program, city,
                      'bench:' || n, 'bench', decode(repeat('00', 32), 'hex'),
                      decode(md5(n::text) || md5(n::text), 'hex')
                 FROM bench_e""",
        )
        await _timed(
            conn,
            "ledger: postings",
            f"""INSERT INTO posting (entry_id, line, account_id, amount_fen, currency, seq,
                   posted_at, period, program_code, region_code, funding_source, book)
               SELECT md5('bench-e' || e.n)::uuid, l.line, a.id, l.amount, 'CNY', e.n,
                      to_timestamp(e.period || '-15', 'YYYY-MM-DD'), e.period, e.program,
                      e.city, a.funding_source, 'main'
                 FROM bench_e e
                 CROSS JOIN LATERAL (VALUES
                   (1, CASE e.kind WHEN 'appropriation' THEN '{chart.TREASURY_CASH}'
                                   WHEN 'commitment' THEN '{chart.BUDGET_AVAILABLE}'
                                   ELSE '{chart.VOUCHERS_OUTSTANDING}' END,
                       CASE WHEN e.kind = 'expiry' THEN NULL ELSE 'central' END,
                       CASE e.kind WHEN 'appropriation' THEN e.amount * 95 / 100
                                   WHEN 'commitment' THEN e.amount * 95 / 100
                                   ELSE e.amount END),
                   (2, CASE e.kind WHEN 'appropriation' THEN '{chart.BUDGET_AVAILABLE}'
                                   WHEN 'commitment' THEN '{chart.BUDGET_AVAILABLE}'
                                   ELSE '{chart.BUDGET_AVAILABLE}' END,
                       CASE e.kind WHEN 'commitment' THEN 'regional' ELSE 'central' END,
                       CASE e.kind WHEN 'appropriation' THEN -(e.amount * 95 / 100)
                                   WHEN 'commitment' THEN e.amount - e.amount * 95 / 100
                                   ELSE -(e.amount * 95 / 100) END),
                   (3, CASE e.kind WHEN 'appropriation' THEN '{chart.TREASURY_CASH}'
                                   WHEN 'commitment' THEN '{chart.VOUCHERS_OUTSTANDING}'
                                   ELSE '{chart.BUDGET_AVAILABLE}' END,
                       CASE e.kind WHEN 'commitment' THEN NULL ELSE 'regional' END,
                       CASE e.kind WHEN 'appropriation' THEN e.amount - e.amount * 95 / 100
                                   WHEN 'commitment' THEN -e.amount
                                   ELSE -(e.amount - e.amount * 95 / 100) END),
                   (4, CASE WHEN e.kind = 'appropriation' THEN '{chart.BUDGET_AVAILABLE}' END,
                       'regional', -(e.amount - e.amount * 95 / 100))
                 ) AS l(line, code, source, amount)
                 JOIN account a ON a.code = l.code AND a.program_code = e.program
                  AND a.region_code = e.city
                  AND a.funding_source IS NOT DISTINCT FROM l.source""",
        )
        await _timed(
            conn,
            "ledger: balances",
            f"""UPDATE account a SET balance_fen = s.total
                  FROM (SELECT account_id, sum(amount_fen) AS total FROM posting
                         GROUP BY account_id) s
                 WHERE s.account_id = a.id;
                UPDATE account x SET balance_fen = -(c.committed * 4 / 10)
                  FROM (SELECT p.program_code, p.region_code, p.funding_source,
                               sum(p.amount_fen) AS committed
                          FROM posting p JOIN entry e ON e.id = p.entry_id
                         WHERE e.kind = 'commitment' AND p.amount_fen > 0
                         GROUP BY 1, 2, 3) c
                 WHERE x.code = '{chart.BUDGET_EXPENDED}' AND x.program_code = c.program_code
                   AND x.region_code = c.region_code
                   AND x.funding_source = c.funding_source""",
        )
        await conn.execute("RESET session_replication_role")
        await _timed(
            conn,
            "ledger: budget_execution filled (the migration's statement)",
            """INSERT INTO budget_execution (account_id, kind, amount_fen)
               SELECT p.account_id, e.kind, sum(p.amount_fen)
                 FROM posting p JOIN entry e ON e.id = p.entry_id
                 JOIN account a ON a.id = p.account_id
                WHERE a.code = '3001' AND e.kind IN ('appropriation', 'commitment', 'expiry')
                GROUP BY 1, 2""",
        )
        await conn.execute("DROP TABLE bench_e")
        n = await conn.fetchval("SELECT count(*) FROM posting")
        say(
            f"ledger: {await conn.fetchval('SELECT count(*) FROM entry'):,} entries, {n:,} postings"
        )
        await _timed(conn, "ledger: VACUUM ANALYZE", "VACUUM ANALYZE")
    finally:
        await conn.close()


class DirectLedger:
    """The dashboard's ledger client answered by the ledger's own service function on the
    seeded ledger database (what `GET /v1/budget/execution` runs, without the HTTP hop)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def budget_execution(self, region_code: str) -> list[BudgetLine]:
        read = await ledger_service.execution(self.db, significant_prefix(region_code))
        return [
            BudgetLine(
                x.program_code,
                x.funding_source,
                x.appropriated_fen,
                x.committed_fen,
                x.spent_fen,
                x.released_fen,
                x.available_fen,
            )
            for x in read.lines
        ]


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


async def _whole(
    db: Database, ledger: DirectLedger, directory: ProviderDirectory, region: str, period: str
) -> None:
    """What `GET /v1/dashboard` does after its summariser catch-up: the care circle's sync
    (nothing changed: the stored points read and compared) and the whole dashboard, its
    budget lines from the ledger."""
    await circle_summary.sync(db, directory, meal_radius_m=MEAL_M, care_radius_m=CARE_M)
    async with db.unit_of_work(readonly=True) as s:
        await service.dashboard(s, region, period, directory=directory, ledger=ledger)  # type: ignore[arg-type]


async def _budget(ledger: DirectLedger, region: str) -> None:
    await ledger.budget_execution(region)


async def _time(fn: Any, reps: int, *args: Any) -> str:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        await fn(*args)
        times.append((time.perf_counter() - t) * 1000)
    return f"median {statistics.median(times):,.0f} ms, max {max(times):,.0f} ms"


async def _provider_changes(
    db: Database, directory: ProviderDirectory, providers: list[dict[str, Any]], reps: int
) -> None:
    """One care provider (home care) at a time through the sync: suspended, approved again,
    moved 1 km north, given a meal item (it becomes a meal point too); each re-measures only
    the people within reach of its old and new positions."""
    rnd = random.Random(3)
    version = 1
    kinds: dict[str, list[float]] = {}
    for _ in range(reps):
        p = dict(
            rnd.choice(
                [x for x in providers if x["status"] == "approved" and x["kind"] == "home_care"]
            )
        )
        steps = [
            ("suspended", {**p, "status": "suspended"}),
            ("approved", {**p, "status": "approved"}),
            ("moved", {**p, "lat": p["lat"] + 0.009}),
            (
                "meal item added",
                {**p, "lat": p["lat"] + 0.009, "services": [_MEAL_ITEM, _CARE_ITEM]},
            ),
        ]
        for label, changed in steps:
            version += 1
            directory.apply({"version": version, "providers": [changed]})
            t = time.perf_counter()
            done = await circle_summary.sync(
                db, directory, meal_radius_m=MEAL_M, care_radius_m=CARE_M
            )
            kinds.setdefault(label, []).append((time.perf_counter() - t) * 1000)
            assert done.points_put + done.points_dropped <= 1, done
    for label, ms in kinds.items():
        say(f"  provider {label}: median {statistics.median(ms):,.0f} ms, max {max(ms):,.0f} ms")


async def measure(
    url: str,
    ledger_url: str,
    reps: int,
    scan: bool,
    directory: ProviderDirectory,
    providers: list[dict[str, Any]],
) -> None:
    db = Database(url, pool_size=2)
    ldb = Database(ledger_url, pool_size=2)
    ledger = DirectLedger(ldb)
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
        t = time.perf_counter()
        first = await circle_summary.sync(db, directory, meal_radius_m=MEAL_M, care_radius_m=CARE_M)
        say(f"care circle, first sync of {first.points_put:,} providers (everyone measured): "
            f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        say(f"care circle, provider changes one at a time ({reps} each):")
        await _provider_changes(db, directory, providers, reps)
        t = time.perf_counter()
        async with db.unit_of_work() as s:
            changed = await circle_repo.set_rule(s, MEAL_M + 100, CARE_M)
        async with db.unit_of_work() as s:
            await circle_repo.set_rule(s, MEAL_M, CARE_M)
        say(f"care circle, radii changed and back (everyone re-measured twice, {changed:,} "
            f"changed the first time): {time.perf_counter() - t:.1f} s")  # fmt: skip
        for region in ("450000", "450100", "450101"):
            say(f"{region} summary reads:      {await _time(_summary_reads, reps, db, region, PERIOD_LAST)}")  # fmt: skip
            say(f"{region} budget (ledger):    {await _time(_budget, reps, ledger, region)}")  # fmt: skip
            say(f"{region} whole dashboard(): {await _time(_whole, reps, db, ledger, directory, region, PERIOD_LAST)}")  # fmt: skip
        if scan:
            from loadtests.dashboard_scan import SCAN_BUDGET, scan_circle, scan_enrolled, scan_use

            async with db.unit_of_work(readonly=True) as s:
                t = time.perf_counter()
                scanned = await scan_use(s, "45%", period=PERIOD_LAST, key="program")
                people = await scan_enrolled(s, "45%")
                say(f"450000 scanning queries (before): {time.perf_counter() - t:.1f} s")
                summed = await repo.use(s, "45%", period=PERIOD_LAST, key="program")
                assert summed == scanned, (summed, scanned)
                assert sorted(await repo.enrolled(s, "45%"), key=str) == sorted(people, key=str)
                say("the summaries' province figures equal the scanning queries")
                t = time.perf_counter()
                before = await scan_circle(s, "45%", directory, meal_m=MEAL_M, care_m=CARE_M)
                say(f"450000 care circle measured in Python (before): {time.perf_counter() - t:.1f} s")  # fmt: skip
                stored = await circle_repo.circle(s, "45%")
                assert stored.total == before.total, (stored.total, before.total)
                assert stored.by_region == before.by_region
                say(f"the stored care circle equals it: {stored.total}")
            async with ldb.unit_of_work(readonly=True) as s:
                conn = await s.connection()
                raw = await conn.get_raw_connection()
                t = time.perf_counter()
                rows = await raw.driver_connection.fetch(SCAN_BUDGET, "45%")  # type: ignore[union-attr]
                say(f"450000 budget by summing postings (before): {time.perf_counter() - t:.2f} s")
                summed_lines = await ledger_budget.execution_by_source(s, "45%")
                by_kind = {(r[0], r[1], r[2]): int(r[3]) for r in rows}
                for x in summed_lines:
                    key = (x.program_code, x.funding_source)
                    assert x.appropriated_fen == -by_kind.get((*key, "appropriation"), 0)
                    assert x.committed_fen == by_kind.get((*key, "commitment"), 0)
                    assert x.released_fen == -by_kind.get((*key, "expiry"), 0)
                say(f"the budget summary equals the postings ({len(summed_lines)} lines)")
    finally:
        await db.dispose()
        await ldb.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="yiyang bench dashboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--beneficiaries", type=int, default=1_000_000)
    p.add_argument("--redemptions", type=int, default=10_000_000)
    p.add_argument("--periods", type=int, default=3, help="months of vouchers")
    p.add_argument("--events", type=int, default=200_000, help="redemptions left to the summariser")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--providers", type=int, default=4_000, help="providers in the directory")
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
        say("migrating a voucher and a ledger database")
        owner, _ = asyncio.run(prepare_service_database(admin, "voucher", name))
        ledger_owner, _ = asyncio.run(
            prepare_service_database(admin, "ledger", name and name + "_ledger")
        )
        t = time.perf_counter()
        asyncio.run(seed(owner, args.beneficiaries, args.redemptions, _periods(args.periods), events))  # fmt: skip
        say(f"seeded in {time.perf_counter() - t:.0f} s: {args.beneficiaries:,} people, "
            f"{args.beneficiaries * args.periods:,} vouchers, {args.redemptions:,} redemptions")  # fmt: skip
        t = time.perf_counter()
        asyncio.run(seed_ledger(ledger_owner, args.beneficiaries, _periods(args.periods)))
        say(f"ledger seeded in {time.perf_counter() - t:.0f} s")
        directory, providers = bench_directory(args.providers)
        asyncio.run(measure(owner, ledger_owner, args.reps, args.scan, directory, providers))
    finally:
        if name is not None and not args.keep:
            asyncio.run(drop_database(admin, name))
            asyncio.run(drop_database(admin, name + "_ledger"))
        if name is None:
            embedded_pg.stop(run_dir / "pg")
            if not args.keep:
                shutil.rmtree(run_dir / "pg", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
