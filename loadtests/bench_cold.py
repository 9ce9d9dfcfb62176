"""`yiyang bench cold`: the ledger's cold paths on a large journal.

Seeds a ledger database with `--entries` journal entries (redemption entries of the real shape,
`service/plans.py`, two postings each, with the expense recognition entry of every 500 as the
relay's batches post it, plus each city's monthly appropriation and commitment)
over `--months` closed periods in `--books` city books, `--redemptions` of them in the last
period; then measures the auditor's entry queries (by account, provider, beneficiary,
voucher), the trial balance as of random dates, and the reconciliation of the last period,
and lists posting's and entry's indexes with their use, size and plans.

The seed is fast and chain-valid: entries, postings and hashes are computed in Python
(`service/hashing.py`, the same plain form the posting path hashes) and written with binary
COPY by the database owner with `session_replication_role = replica` for the seed only (the
journal's triggers would check each statement; the seed sets the heads and balances they
would have kept, and the secondary indexes are built once after). Then the chain is verified
with the ledger's own verifier (`service/chain.py`), the balances against the postings, and
the snapshot job writes a balance snapshot at every day's start (`service/snapshots.py`).

The voucher side of the reconciliation (what `GET /v1/internal/reconciliation` would answer)
is built from the same seed in memory: the measurement is the ledger's side and the
comparison, not the voucher service's query.

    python3 dev.py bench cold [--entries 1000000] [--redemptions 1000000] [--books 4]
        [--months 12] [--queries 200] [--database-url URL] [--reports reports] [--keep]

Without `--database-url` the run has its own embedded PostgreSQL under `reports/<run>/pg`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql

from loadtests.harness import new_run_dir
from services.common import embedded_pg
from services.common.db import Database, asyncpg_connect_kwargs
from services.common.migrate import drop_database, prepare_service_database
from services.ledger.models import Entry, Posting
from services.ledger.repository import audit as audit_repo
from services.ledger.repository import posting
from services.ledger.repository import snapshots as snapshot_repo
from services.ledger.service import audit, chain, clock, hashing, plans, snapshots
from services.ledger.service.books import book_of
from services.ledger.service.chart import AccountKey
from services.ledger.service.plans import EntryPlan
from services.ledger.settlement.repository import reconciliation as recon_repo
from services.ledger.settlement.service.reconciliation import reconcile

TZ = clock.TZ
PROGRAM = "disability_subsidy"
SHARES = {"central": 10000}
CREATED_BY = "relay"
CHUNK = 20_000  # entries per COPY

# The columns written by COPY: exactly the hashed fields (service/hashing.py), so a seeded
# entry is chained over what the verifier recomputes, then the chain's own columns.
ENTRY_COPY = (*hashing.ENTRY_FIELDS, *hashing.OPTIONAL_ENTRY_FIELDS, "prev_hash", "hash")
POSTING_COPY = ("entry_id", *hashing.POSTING_FIELDS, "book")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] [bench cold] {text}", flush=True)


# --- the shape of the seeded journal ---------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    entries: int = 1_000_000
    redemptions: int = 1_000_000  # in the last period (capped by entries)
    books: int = 4
    months: int = 12
    providers: int = 500  # per city
    beneficiaries: int = 200_000
    last_period: str = ""  # default: the month before this one (Asia/Shanghai)
    seed: int = 19

    def cities(self) -> list[str]:
        return [f"45{n:02d}00" for n in range(1, self.books + 1)]

    def periods(self) -> list[str]:
        last = self.last_period or previous_period(datetime.now(TZ).strftime("%Y-%m"))
        out = [last]
        while len(out) < self.months:
            out.append(previous_period(out[-1]))
        return out[::-1]

    def per_period(self) -> dict[str, int]:
        """Redemption entries per period (all cities): `redemptions` in the last, the rest
        of `entries` (less the funding entries) evenly over the others."""
        periods = self.periods()
        funding = 2 * self.books * len(periods)
        total = max(0, self.entries - funding)
        last = min(self.redemptions, total)
        rest = total - last
        if len(periods) == 1:
            return {periods[0]: total}
        each, extra = divmod(rest, len(periods) - 1)
        out = {p: each + (1 if i < extra else 0) for i, p in enumerate(periods[:-1])}
        out[periods[-1]] = last
        return out


def previous_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def provider_of(city: str, i: int) -> str:
    return f"p{city[:4]}-{i:04d}"


def uuid7_at(moment: datetime, rnd: random.Random) -> uuid.UUID:
    """A version-7 UUID of this moment (services/common/ids.py `new_uuid`, dated)."""
    ms = int(moment.timestamp() * 1000)
    r = rnd.getrandbits(74)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((r >> 62) & 0xFFF) << 64
    value |= 0b10 << 62 | (r & ((1 << 62) - 1))
    return uuid.UUID(int=value)


@dataclass
class Redemption:
    """A seeded redemption as the voucher side knows it."""

    id: str
    provider_id: str
    subsidy_fen: int
    day_on: str
    city: str


@dataclass
class BookPlan:
    """What one book's seed writes, in chain order (generated lazily)."""

    city: str
    counts: dict[str, int]  # redemption entries per period in this book
    funding_fen: dict[str, int] = field(default_factory=dict)


def split_counts(shape: Shape) -> list[BookPlan]:
    cities = shape.cities()
    books = [BookPlan(c, {}) for c in cities]
    for period, n in shape.per_period().items():
        each, extra = divmod(n, len(cities))
        for i, b in enumerate(books):
            b.counts[period] = each + (1 if i < extra else 0)
            b.funding_fen[period] = max(1, b.counts[period]) * 2000
    return books


# Redemptions per relay batch: each batch's expense is recognised by one entry after it.
EXPENSE_BATCH = 500


def subsidy(i: int) -> int:
    return 500 + (i * 37) % 1500  # 5.00 to 19.99 yuan


def entries_of(
    shape: Shape, book: BookPlan, rnd: random.Random, last: list[Redemption]
) -> Iterator[tuple[EntryPlan, datetime]]:
    """The book's entries in chain order with their dates: each period's funding at its start,
    then its redemptions spread over the month. The last period's redemptions are appended
    to `last` (the voucher side)."""
    city = book.city
    last_period = shape.periods()[-1]
    n_total = 0
    for period in shape.periods():
        start, end = snapshots.period_start(period), snapshots.period_end(period)
        at = start + timedelta(seconds=1)
        amount = book.funding_fen[period]
        yield (
            plans.appropriation(
                program_code=PROGRAM,
                region_code=city,
                by_source={"central": amount},
                created_by="bench",
                idempotency_key=f"appr:{city}:{period}",
                memo=f"budget {period}",
            ),
            at,
        )
        yield (
            plans.commitment(
                purpose="voucher",
                program_code=PROGRAM,
                budget_region_code=city,
                amount_fen=amount,
                shares_bp=SHARES,
                created_by="bench",
                idempotency_key=f"commit:{city}:{period}",
                ref=f"issue:{city}:{period}",
            ),
            at + timedelta(seconds=1),
        )
        n = book.counts[period]
        span = (end - start - timedelta(minutes=2)) / max(1, n)
        t0 = start + timedelta(minutes=1)
        batch: list[EntryPlan] = []  # the relay's batch: its expense recognised after it
        for i in range(n):
            n_total += 1
            when = t0 + span * i
            beneficiary = f"b{rnd.randrange(shape.beneficiaries):07d}"
            provider = provider_of(city, rnd.randrange(shape.providers))
            amount_i = subsidy(n_total)
            rid = str(uuid7_at(when, rnd))
            event_id = uuid7_at(when, rnd)
            plan = plans.redemption(
                program_code=PROGRAM,
                budget_region_code=city,
                provider_id=provider,
                subsidy_fen=amount_i,
                shares_bp=SHARES,
                beneficiary_id=beneficiary,
                voucher_id=f"v{city[:4]}-{n_total // 3:08d}",
                ref=rid,
                details=plans.redemption_details(
                    terminal_id=f"t-{provider}",
                    staff_id=None,
                    service_code="MEAL_LUNCH",
                    gross_fen=amount_i + 300,
                    copay_fen=300,
                ),
                created_by=CREATED_BY,
                event_id=event_id,
                idempotency_key=f"event:{event_id}",
            )
            plan.id = uuid7_at(when, rnd)
            if period == last_period:
                last.append(
                    Redemption(
                        rid, provider, amount_i, when.astimezone(TZ).date().isoformat(), city
                    )
                )
            yield plan, when
            batch.append(plan)
            if len(batch) == EXPENSE_BATCH or i == n - 1:
                for expense in plans.expense_recognition(batch, created_by=CREATED_BY):
                    expense.id = uuid7_at(when, rnd)
                    expense.idempotency_key = f"expense:{expense.id}"
                    yield expense, when
                batch = []


def account_keys(shape: Shape) -> list[AccountKey]:
    keys: set[AccountKey] = set()
    for city in shape.cities():
        funding = [
            plans.appropriation(
                program_code=PROGRAM, region_code=city, by_source={"central": 1},
                created_by="x", idempotency_key="x", memo=None,
            ),
            plans.commitment(
                purpose="voucher", program_code=PROGRAM, budget_region_code=city, amount_fen=1,
                shares_bp=SHARES, created_by="x", idempotency_key="x", ref="x",
            ),
        ]  # fmt: skip
        for i in range(shape.providers):
            one = plans.redemption(
                program_code=PROGRAM,
                budget_region_code=city,
                provider_id=provider_of(city, i),
                subsidy_fen=1,
                shares_bp=SHARES,
                created_by="x",
            )
            funding.append(one)
        keys.update(p.account for plan in funding for p in plan.postings)
        keys.update(plans.expense_accounts(funding[2:]))
    return sorted(keys, key=AccountKey.sort_key)


def rows_of(
    book: str,
    seq: int,
    prev: bytes,
    batch: Sequence[tuple[EntryPlan, datetime]],
    accounts: dict[AccountKey, int],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int, bytes]:
    """Entry and posting rows (ENTRY_COPY, POSTING_COPY) chained after (seq, prev), as
    repository/posting.py `_write_book` writes and hashes them, each with its own date."""
    e_rows: list[tuple[Any, ...]] = []
    p_rows: list[tuple[Any, ...]] = []
    for plan, when in batch:
        seq += 1
        period = when.astimezone(TZ).strftime("%Y-%m")
        posted = hashing.utc_text(when)
        doc: dict[str, Any] = {
            "id": str(plan.id),
            "book": book,
            "seq": seq,
            "kind": plan.kind,
            "posted_at": posted,
            "period": period,
            "program_code": plan.program_code,
            "region_code": plan.region_code,
            "provider_id": plan.provider_id,
            "beneficiary_id": plan.beneficiary_id,
            "voucher_id": plan.voucher_id,
            "ref": plan.ref,
            "event_id": None if plan.event_id is None else str(plan.event_id),
            "idempotency_key": plan.idempotency_key,
            "reverses_entry_id": None,
            "memo": plan.memo,
            "created_by": plan.created_by,
        }
        if plan.details is not None:
            doc["details"] = plan.details
        lines = []
        for line, p in enumerate(plan.postings, start=1):
            k = p.account
            row = (
                plan.id,
                line,
                accounts[k],
                p.amount_fen,
                k.currency,
                seq,
                when,
                period,
                k.program_code or plan.program_code,
                k.region_code or plan.region_code,
                k.funding_source,
                k.provider_id or plan.provider_id,
                k.beneficiary_id or plan.beneficiary_id,
                plan.voucher_id,
                book,
            )
            p_rows.append(row)
            lines.append(
                {
                    "line": line,
                    "account_id": row[2],
                    "amount_fen": row[3],
                    "currency": row[4],
                    "seq": seq,
                    "posted_at": posted,
                    "period": period,
                    "program_code": row[8],
                    "region_code": row[9],
                    "funding_source": row[10],
                    "provider_id": row[11],
                    "beneficiary_id": row[12],
                    "voucher_id": row[13],
                }
            )
        h = hashing.entry_hash_plain(prev, doc, lines)
        e_rows.append(
            (
                plan.id,
                book,
                seq,
                plan.kind,
                when,
                period,
                plan.program_code,
                plan.region_code,
                plan.provider_id,
                plan.beneficiary_id,
                plan.voucher_id,
                plan.ref,
                plan.event_id,
                plan.idempotency_key,
                None,
                plan.memo,
                plan.created_by,
                None if plan.details is None else json.dumps(plan.details, ensure_ascii=False),
                prev,
                h,
            )
        )
        prev = h
    return e_rows, p_rows, seq, prev


# --- the seed ------------------------------------------------------------------------------

SECONDARY_INDEXES = (
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[]) "
    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
)


@dataclass
class Seeded:
    entries: int
    postings: int
    seconds: float
    python_s: float
    copy_s: float
    finish_s: float
    last: list[Redemption]
    periods: list[str]


@dataclass
class BookSeeded:
    """What one book's seed wrote: its head, its counts and times, its last period's
    redemptions (the voucher side)."""

    book: str
    seq: int
    prev: bytes
    last_at: datetime | None
    entries: int
    postings: int
    python_s: float
    copy_s: float
    last: list[Redemption]


async def seed_book(
    owner_url: str,
    shape: Shape,
    b: BookPlan,
    accounts: dict[AccountKey, int],
    progress: Callable[[str], None] = say,
) -> BookSeeded:
    """One book's chain, computed and COPYed in chunks over its own connection (books are
    independent chains, so several can be seeded at once, one process each)."""
    book = book_of(b.city)
    rnd = random.Random(f"{shape.seed}:{b.city}")
    last: list[Redemption] = []
    out = BookSeeded(book, 0, hashing.GENESIS_HASH, None, 0, 0, 0.0, 0.0, last)
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(owner_url))
    try:
        await conn.execute("SET session_replication_role = replica")
        stream = entries_of(shape, b, rnd, last)
        while True:
            t1 = time.monotonic()
            batch = [x for _, x in zip(range(CHUNK), stream, strict=False)]
            if not batch:
                break
            e_rows, p_rows, out.seq, out.prev = rows_of(book, out.seq, out.prev, batch, accounts)
            out.last_at = batch[-1][1]
            t2 = time.monotonic()
            await conn.copy_records_to_table(
                Entry.__tablename__, records=e_rows, columns=ENTRY_COPY
            )
            await conn.copy_records_to_table(
                Posting.__tablename__, records=p_rows, columns=POSTING_COPY
            )
            out.python_s += t2 - t1
            out.copy_s += time.monotonic() - t2
            out.entries += len(e_rows)
            out.postings += len(p_rows)
            progress(f"book {book}: {out.seq:,} entries")
    finally:
        await conn.close()
    return out


def seed_book_in_process(
    owner_url: str, shape: Shape, b: BookPlan, accounts: dict[AccountKey, int]
) -> BookSeeded:
    return asyncio.run(seed_book(owner_url, shape, b, accounts))


async def seed(
    owner_url: str, shape: Shape, progress: Callable[[str], None] = say, jobs: int = 1
) -> Seeded:
    """Write the journal (see the module's doc). The database must be migrated and empty.
    With `jobs` > 1 the books are seeded by that many processes at once."""
    t0 = time.monotonic()
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(owner_url))
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        tables = [Entry.__tablename__, Posting.__tablename__]
        indexes = await conn.fetch(SECONDARY_INDEXES, tables)
        for r in indexes:
            await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        keys = account_keys(shape)
        async with conn.transaction():
            opened = await posting.resolve_accounts(conn, keys)
        accounts = {k: a.id for k, a in opened.items()}
        books = split_counts(shape)
        await conn.execute(posting.OPEN_BOOKS, sorted(book_of(b.city) for b in books))
        if jobs > 1:
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(jobs) as pool:
                done = await asyncio.gather(
                    *(
                        loop.run_in_executor(
                            pool, seed_book_in_process, owner_url, shape, b, accounts
                        )
                        for b in books
                    )
                )
        else:
            done = [await seed_book(owner_url, shape, b, accounts, progress) for b in books]
        for d in done:
            await conn.execute(
                "UPDATE book_head SET last_seq = $2, last_hash = $3, last_posted_at = $4 "
                "WHERE book = $1",
                d.book,
                d.seq,
                d.prev,
                d.last_at,
            )
        t3 = time.monotonic()
        progress("balances, closed periods, indexes")
        await conn.execute(
            "UPDATE account a SET balance_fen = s.total FROM (SELECT account_id, sum(amount_fen) "
            "AS total FROM posting GROUP BY account_id) s WHERE s.account_id = a.id"
        )
        await conn.executemany(
            "INSERT INTO accounting_period (period, closed_by) VALUES ($1, 'bench')",
            [(p,) for p in shape.periods()],
        )
        for r in indexes:
            await conn.execute(r["indexdef"])
        await conn.execute("RESET session_replication_role")
        await conn.execute("ANALYZE")
        finish_s = time.monotonic() - t3
    finally:
        await conn.close()
    return Seeded(
        sum(d.entries for d in done),
        sum(d.postings for d in done),
        time.monotonic() - t0,
        sum(d.python_s for d in done),
        sum(d.copy_s for d in done),
        finish_s,
        [r for d in done for r in d.last],
        shape.periods(),
    )


# --- measurements --------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(pct(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
    }


@dataclass
class Targets:
    accounts: list[int]
    hot_accounts: list[int]
    providers: list[str]
    beneficiaries: list[str]
    vouchers: list[str]


async def targets(db: Database, rnd: random.Random, n: int) -> Targets:
    async with db.unit_of_work() as session:
        accts = await audit_repo.accounts(session, "")
    payable = [a.id for a in accts if a.provider_id and a.id is not None]
    hot = [a.id for a in accts if not a.provider_id and a.id is not None]
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.url))
    try:
        rows = await conn.fetch(
            "SELECT provider_id, beneficiary_id, voucher_id FROM entry TABLESAMPLE SYSTEM (1) "
            "WHERE kind = 'redemption' LIMIT $1",
            n * 3,
        )
    finally:
        await conn.close()
    return Targets(
        [rnd.choice(payable) for _ in range(n)],
        hot,
        [r["provider_id"] for r in rows][:n],
        [r["beneficiary_id"] for r in rows][n : 2 * n] or [r["beneficiary_id"] for r in rows],
        [r["voucher_id"] for r in rows][-n:],
    )


async def entry_queries(db: Database, t: Targets, rnd: random.Random) -> dict[str, Any]:
    """Each audit filter's first page (100 entries, oldest first, and newest first), timed
    through the ledger's service (`service/audit.py entries`, what GET /v1/entries runs)."""
    out: dict[str, Any] = {}
    accounts = {a: await audit.load_account(db, a) for a in {*t.accounts, *t.hot_accounts}}

    async def page(kind: str, value: Any, desc: bool) -> float:
        account = accounts[value] if kind == "account" else None
        filters = {} if kind == "account" else {f"{kind}_id": value}
        t0 = time.perf_counter()
        await audit.entries(
            db,
            region_prefix="",
            account=account,
            filters=filters,
            period=None,
            start=None,
            end=None,
            after_seq=0,
            limit=100,
            newest_first=desc,
        )
        return (time.perf_counter() - t0) * 1000

    for kind, values in (
        ("account", t.accounts),
        ("hot account", t.hot_accounts * max(1, len(t.accounts) // max(1, len(t.hot_accounts)))),
        ("provider", t.providers),
        ("beneficiary", t.beneficiaries),
        ("voucher", t.vouchers),
    ):
        ms = [
            await page("account" if kind == "hot account" else kind, v, rnd.random() < 0.5)
            for v in values
        ]
        out[kind] = summary(ms)
        say(f"entries by {kind}: {out[kind]}")
    return out


async def trial_balances(db: Database, shape: Shape, rnd: random.Random, n: int) -> dict[str, Any]:
    """The trial balance as of random moments of the seeded span (whole country and a city),
    from snapshots; the scanning one at a few of them, for its time and to compare."""
    periods = shape.periods()
    start, end = snapshots.period_start(periods[0]), snapshots.period_end(periods[-1])
    span = (end - start).total_seconds()
    moments = [start + timedelta(seconds=rnd.random() * span) for _ in range(n)]
    ms: dict[str, list[float]] = {"country": [], "city": []}
    for i, m in enumerate(moments):
        scope = "city" if i % 2 else "country"
        prefix = shape.cities()[0][:4] if scope == "city" else ""
        t0 = time.perf_counter()
        tb = await audit.trial_balance(db, m, prefix)
        ms[scope].append((time.perf_counter() - t0) * 1000)
        assert tb.balanced, "the trial balance does not balance"
    out: dict[str, Any] = {k: summary(v) for k, v in ms.items() if v}
    scan_ms, equal = [], True
    for m in moments[:3]:
        async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
            t0 = time.perf_counter()
            scanned = await audit_repo.trial_balance(session, m, "")
            scan_ms.append((time.perf_counter() - t0) * 1000)
            since = await snapshot_repo.latest(session, m)
            snap = await audit_repo.trial_balance(session, m, "", since)
        equal = equal and [(r.account.id, r.debit_fen, r.credit_fen) for r in scanned] == [
            (r.account.id, r.debit_fen, r.credit_fen) for r in snap
        ]
    out["scanning, whole journal"] = summary(scan_ms)
    out["snapshot equals scan"] = equal
    say(f"trial balance: {out}")
    return out


class SeededVoucherSide:
    """The voucher side of the last period, as `GET /v1/internal/reconciliation` would give
    it, from the seed (no voucher service in this bench)."""

    def __init__(self, redemptions: list[Redemption], balances: list[dict[str, Any]]) -> None:
        self.redemptions = redemptions
        self.balances = balances

    async def reconciliation(self, period: str, region_code: str) -> dict[str, Any]:
        return {
            "redemptions": [
                {
                    "id": r.id,
                    "provider_id": r.provider_id,
                    "subsidy_fen": r.subsidy_fen,
                    "copay_fen": 300,
                    "status": "redeemed",
                    "claim_id": None,
                    "day_on": r.day_on,
                    "program_code": PROGRAM,
                    "budget_region_code": r.city,
                }
                for r in self.redemptions
            ],
            "balances": self.balances,
        }


async def reconciliation(db: Database, seeded: Seeded) -> dict[str, Any]:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.url))
    try:
        rows = await conn.fetch(
            "SELECT program_code, region_code, -balance_fen AS b FROM account WHERE code = '2101'"
        )
    finally:
        await conn.close()
    balances = [
        {"program_code": r["program_code"], "budget_region_code": r["region_code"], "balance_fen": r["b"]}
        for r in rows
    ]  # fmt: skip
    voucher = SeededVoucherSide(seeded.last, balances)
    t0 = time.perf_counter()
    report = await reconcile(db, voucher, seeded.periods[-1], "450000")  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    out = {
        "period": seeded.periods[-1],
        "redemptions_checked": report.redemptions_checked,
        "ok": report.ok,
        "discrepancies": len(report.discrepancies),
        "seconds": round(seconds, 2),
    }
    say(f"reconciliation: {out}")
    return out


INDEX_USE = (
    "SELECT s.relname AS table, s.indexrelname AS index, s.idx_scan AS scans, "
    "pg_relation_size(s.indexrelid) AS bytes, pg_get_indexdef(s.indexrelid) AS def "
    "FROM pg_stat_user_indexes s WHERE s.relname IN ('posting', 'entry') "
    "ORDER BY s.relname, s.indexrelname"
)
EXPLAINS = {
    "by account": (
        "SELECT DISTINCT seq, book FROM posting WHERE (seq, book) > (0, '') "
        "AND account_id = $1 AND posted_at <= now() ORDER BY seq, book LIMIT 101"
    ),
    "by provider": (
        "SELECT DISTINCT seq, book FROM posting WHERE (seq, book) > (0, '') "
        "AND provider_id = $1 AND posted_at <= now() ORDER BY seq, book LIMIT 101"
    ),
    "by beneficiary, newest first": (
        "SELECT DISTINCT seq, book FROM posting WHERE beneficiary_id = $1 "
        "AND posted_at <= now() ORDER BY seq DESC, book DESC LIMIT 101"
    ),
    "by voucher": (
        "SELECT DISTINCT seq, book FROM posting WHERE (seq, book) > (0, '') "
        "AND voucher_id = $1 AND posted_at <= now() ORDER BY seq, book LIMIT 101"
    ),
    "trial balance, postings since the snapshot": (
        "SELECT account_id, sum(amount_fen) FROM posting WHERE posted_at <= $1 "
        "AND posted_at >= $1 - interval '1 day' AND region_code LIKE '%' GROUP BY account_id"
    ),
}


async def indexes(db: Database, t: Targets, shape: Shape) -> dict[str, Any]:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.url))
    try:
        use = [dict(r) for r in await conn.fetch(INDEX_USE)]
        plans_: dict[str, str] = {}
        args: dict[str, Any] = {
            "by account": t.accounts[0],
            "by provider": t.providers[0],
            "by beneficiary, newest first": t.beneficiaries[0],
            "by voucher": t.vouchers[0],
            "trial balance, postings since the snapshot": snapshots.period_start(
                shape.periods()[-1]
            )
            + timedelta(days=10),
        }
        for name, sql in EXPLAINS.items():
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", args[name])
            plans_[name] = "\n".join(r[0] for r in rows)
        # the reconciliation's set-wise read, as it runs (its own work_mem)
        recon = recon_repo.period_redemptions(shape.periods()[-1], "45").compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        async with conn.transaction():
            await conn.execute(f"SET LOCAL work_mem = '{recon_repo.WORK_MEM}'")
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {recon}")
        plans_["reconciliation, the period's redemptions"] = "\n".join(r[0] for r in rows)
    finally:
        await conn.close()
    for u in use:
        say(f"index {u['table']}.{u['index']}: {u['scans']} scans, {u['bytes'] / 2**20:.1f} MiB")
    return {"use": use, "plans": plans_}


# Posting's indexes before ledger_0701, ledger_1301 and after: each is timed alone on a copy
# of posting.
PROBE_INDEXES = {
    "ix_posting_account_seq": "(account_id, seq)",
    "ix_posting_account_posted_at (dropped by ledger_1301)": "(account_id, posted_at)",
    "ix_posting_seq_book": "(seq, book)",
    "ix_posting_posted_at (btree, dropped)": "(posted_at)",
    "ix_posting_posted_at_brin": "USING brin (posted_at)",
    "ix_posting_region_seq (dropped by ledger_1301)": "(region_code text_pattern_ops, seq)",
    "ix_posting_region_posted_at (dropped)": "(region_code text_pattern_ops, posted_at)",
    "ix_posting_program_seq (dropped)": "(program_code, seq)",
    "ix_posting_period_seq": "(period, seq)",
    "ix_posting_provider_seq (dropped by ledger_1301)": (
        "(provider_id, seq) WHERE provider_id IS NOT NULL"
    ),
    "ix_posting_beneficiary_seq (dropped by ledger_1301)": (
        "(beneficiary_id, seq) WHERE beneficiary_id IS NOT NULL"
    ),
    "ix_posting_voucher_seq (dropped by ledger_1301)": (
        "(voucher_id, seq) WHERE voucher_id IS NOT NULL"
    ),
}
# Entry's indexes swapped by ledger_1001, and those ledger_1301 moved there from posting (one
# row an entry instead of one a posting).
ENTRY_PROBE_INDEXES = {
    "ix_entry_posted_at (dropped by ledger_1001)": "(posted_at)",
    "ix_entry_period_kind (ledger_1001)": "(period, kind)",
    "ix_entry_provider_seq (ledger_1301)": (
        "(provider_id, seq, book) WHERE provider_id IS NOT NULL"
    ),
    "ix_entry_beneficiary_seq (ledger_1301)": (
        "(beneficiary_id, seq, book) WHERE beneficiary_id IS NOT NULL"
    ),
    "ix_entry_voucher_seq (ledger_1301)": "(voucher_id, seq, book) WHERE voucher_id IS NOT NULL",
}
PROBE_TABLES = {  # table: (its primary key, the indexes timed on it)
    "posting": ("entry_id, line", PROBE_INDEXES),
    "entry": ("id", ENTRY_PROBE_INDEXES),
}


async def index_costs(
    db: Database, rows: int, reps: int = 3, table: str = "posting"
) -> dict[str, Any]:
    """What each of the table's indexes (posting's, or entry's swapped one) costs a write:
    `rows` rows inserted (one statement, WAL and all) into a copy of the table with its
    primary key and that one index, against the primary key alone; the best of `reps`, in
    microseconds per row."""
    key, probes = PROBE_TABLES[table]
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.url))
    try:
        await conn.execute("DROP TABLE IF EXISTS probe_src, probe")
        await conn.execute(
            f"CREATE TABLE probe_src AS SELECT * FROM {table} ORDER BY book, seq LIMIT {rows}"
        )
        await conn.execute(f"CREATE TABLE probe (LIKE {table} INCLUDING DEFAULTS)")
        await conn.execute(f"ALTER TABLE probe ADD PRIMARY KEY ({key})")

        wal = "SELECT pg_current_wal_insert_lsn()::text"

        async def timed() -> tuple[float, int]:
            """The best time of `reps`, and the WAL bytes the insert wrote (the same each
            time: a figure the machine's load does not move)."""
            best, wal_bytes = float("inf"), 0
            for _ in range(reps):
                await conn.execute("TRUNCATE probe")
                await conn.execute("CHECKPOINT")
                lsn = await conn.fetchval(wal)
                t0 = time.perf_counter()
                await conn.execute("INSERT INTO probe SELECT * FROM probe_src")
                best = min(best, time.perf_counter() - t0)
                wal_bytes = await conn.fetchval(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)::bigint",
                    lsn,
                )
            return best, wal_bytes

        base, base_wal = await timed()
        out: dict[str, Any] = {
            "rows": rows,
            f"primary key only, us/{table}": round(1e6 * base / rows, 2),
            f"primary key only, WAL bytes/{table}": round(base_wal / rows, 1),
        }
        for name, spec in probes.items():
            using, _, rest = spec.partition("(")
            await conn.execute(f"CREATE INDEX probe_ix ON probe {using}({rest}")
            took, wal_bytes = await timed()
            await conn.execute("DROP INDEX probe_ix")
            out[name] = round(1e6 * (took - base) / rows, 2)
            out[f"{name}, WAL bytes/{table}"] = round((wal_bytes - base_wal) / rows, 1)
            say(
                f"index cost {name}: {out[name]} us/{table}, {out[f'{name}, WAL bytes/{table}']} WAL bytes"
            )
        await conn.execute("DROP TABLE probe_src, probe")
    finally:
        await conn.close()
    return out


async def reset_stats(db: Database) -> None:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.url))
    try:
        await conn.execute("SELECT pg_stat_reset()")
    finally:
        await conn.close()


# --- the run -------------------------------------------------------------------------------


async def run(
    owner_url: str,
    shape: Shape,
    queries: int,
    verify: str,
    probe_rows: int = 0,
    jobs: int = 1,
) -> dict[str, Any]:
    result: dict[str, Any] = {"shape": asdict(shape), "cores": os.cpu_count()}
    say(f"seeding {shape.entries:,} entries in {shape.books} books over {shape.months} months")
    seeded = await seed(owner_url, shape, jobs=jobs)
    result["seed"] = {
        "entries": seeded.entries,
        "postings": seeded.postings,
        "seconds": round(seeded.seconds, 1),
        "python_s": round(seeded.python_s, 1),
        "copy_s": round(seeded.copy_s, 1),
        "balances_indexes_analyze_s": round(seeded.finish_s, 1),
        "entries_per_s": round(seeded.entries / seeded.seconds),
    }
    say(f"seeded: {result['seed']}")
    db = Database(owner_url)
    try:
        if verify != "none":
            t0 = time.monotonic()
            if verify == "all":
                report = await chain.verify_chain(db)
            else:
                report = await chain.verify_chain(db, book=book_of(shape.cities()[0]))
            result["verify"] = {
                "scope": verify,
                "ok": report.ok,
                "entries_checked": report.entries_checked,
                "seconds": round(time.monotonic() - t0, 1),
            }
            say(f"chain verified: {result['verify']}")
            if not report.ok:
                raise SystemExit(f"the seeded chain does not verify: {report}")
        t0 = time.monotonic()
        taken = await snapshots.take_due(db)
        result["snapshots"] = {"taken": len(taken), "seconds": round(time.monotonic() - t0, 1)}
        say(f"snapshot job: {result['snapshots']}")
        await reset_stats(db)
        rnd = random.Random(shape.seed + 1)
        t = await targets(db, rnd, queries)
        result["entry_queries"] = await entry_queries(db, t, rnd)
        result["trial_balance"] = await trial_balances(db, shape, rnd, max(10, queries // 4))
        result["reconciliation"] = await reconciliation(db, seeded)
        result["indexes"] = await indexes(db, t, shape)
        if probe_rows:
            result["index_costs"] = await index_costs(db, probe_rows)
    finally:
        await db.dispose()
    return result


async def redemptions_of(db: Database, period: str) -> list[Redemption]:
    """The voucher side of a kept journal's period, read back from its redemption entries
    (what the seed remembered in memory when it wrote them)."""
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.url))
    try:
        rows = await conn.fetch(
            "SELECT e.ref, e.provider_id, e.region_code, "
            "to_char(e.posted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS day_on, "
            "-sum(p.amount_fen) AS subsidy FROM entry e JOIN posting p ON p.entry_id = e.id "
            "JOIN account a ON a.id = p.account_id AND a.code = '2201' "
            "WHERE e.kind = 'redemption' AND e.period = $1 GROUP BY e.id",
            period,
        )
    finally:
        await conn.close()
    return [
        Redemption(r["ref"], r["provider_id"], int(r["subsidy"]), r["day_on"], r["region_code"])
        for r in rows
    ]


async def measure_again(
    owner_url: str, shape: Shape, queries: int, probe_rows: int = 0
) -> dict[str, Any]:
    """The audit queries, trial balances and the reconciliation of the last period again on
    a journal seeded before (`--keep`), with the index use they made."""
    db = Database(owner_url)
    try:
        await reset_stats(db)
        rnd = random.Random(shape.seed + 1)
        t = await targets(db, rnd, queries)
        out = {
            "entry_queries": await entry_queries(db, t, rnd),
            "trial_balance": await trial_balances(db, shape, rnd, max(10, queries // 4)),
        }
        period = shape.periods()[-1]
        last = await redemptions_of(db, period)
        seeded = Seeded(0, 0, 0.0, 0.0, 0.0, 0.0, last, shape.periods())
        out["reconciliation"] = await reconciliation(db, seeded)
        out["indexes"] = await indexes(db, t, shape)
        if probe_rows:
            out["index_costs"] = {
                table: await index_costs(db, probe_rows, table=table) for table in PROBE_TABLES
            }
        return out
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="yiyang bench cold", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--redemptions", type=int, default=1_000_000)
    p.add_argument("--books", type=int, default=4)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--providers", type=int, default=500, help="per city")
    p.add_argument("--beneficiaries", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=200, help="random queries per audit filter")
    p.add_argument(
        "--verify", choices=("all", "book", "none"), default=None,
        help="verify every book, the root and the balances, or one book, or nothing (default: "
        "all up to 200,000 entries, else one book)",
    )  # fmt: skip
    p.add_argument(
        "--index-costs", type=int, default=0, metavar="ROWS",
        help="also time each posting index alone on ROWS inserted postings",
    )  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="processes seeding books at once")
    p.add_argument("--database-url", default=os.environ.get("YIYANG_LOAD_DATABASE_URL"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--keep", action="store_true", help="keep the run's database")
    p.add_argument(
        "--again", metavar="OWNER_URL",
        help="measure the queries again on a database kept by an earlier run (same shape)",
    )  # fmt: skip
    args = p.parse_args(argv)
    shape = Shape(
        entries=args.entries,
        redemptions=args.redemptions,
        books=args.books,
        months=args.months,
        providers=args.providers,
        beneficiaries=args.beneficiaries,
    )
    verify = args.verify or ("all" if args.entries <= 200_000 else "book")
    if args.again:
        again = asyncio.run(measure_again(args.again, shape, args.queries, args.index_costs))
        print(json.dumps(again, indent=2, default=str))
        return 0
    run_dir = new_run_dir(args.reports, "cold")
    run_dir.mkdir(parents=True, exist_ok=True)
    name = f"yiyang_bench_cold_{os.getpid()}"
    admin = args.database_url or embedded_pg.start(run_dir / "pg", stop_at_exit=True)
    try:
        owner, _ = asyncio.run(prepare_service_database(admin, "ledger", name))
        result = asyncio.run(run(owner, shape, args.queries, verify, args.index_costs, args.jobs))
        result["finished_at"] = datetime.now(UTC).isoformat()
        (run_dir / "cold.json").write_text(json.dumps(result, indent=2, default=str))
        say(f"report: {run_dir / 'cold.json'}")
    finally:
        if not args.keep:
            asyncio.run(drop_database(admin, name))
        if args.database_url is None:
            embedded_pg.stop(run_dir / "pg")
            if not args.keep:  # the report stays; the database files (GBs at scale) go
                shutil.rmtree(run_dir / "pg", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
