"""Audit queries: trial balance, entries by every dimension, statements, metrics.

Each runs in one REPEATABLE READ read-only unit of work (one snapshot). Region scope is a
prefix of the region code (services.common.regions.significant_prefix of the caller's
region); a service sees everything.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.ledger.errors import AccountNotFound, FilterNotSupported, RangeTooLarge
from services.ledger.models import Account, RootAnchor
from services.ledger.repository import audit as repo
from services.ledger.repository import snapshots as snapshot_repo
from services.ledger.repository.audit import PostingFilter
from services.ledger.schemas import (
    EntryPage,
    EntryRead,
    EventCountRead,
    MetricsRead,
    PostingRead,
    StatementLine,
    StatementRead,
    TrialBalanceAccount,
    TrialBalanceRead,
)
from services.ledger.service.chart import CHART
from services.ledger.service.clock import iso as _iso

ENTRY_DIMENSIONS = ("provider_id", "beneficiary_id", "voucher_id")
STATEMENT_MAX_LINES = 10_000
EXPORT_MAX_ENTRIES = 200_000  # entries in one file (CSV, XLSX, the journal file set)


@asynccontextmanager
async def _snapshot(db: Database) -> AsyncIterator[AsyncSession]:
    """One consistent, read-only view of the book for a whole answer, each query planned for
    its own values (repository/audit.py `plan_each_query`)."""
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        await repo.plan_each_query(session)
        yield session


async def trial_balance(
    db: Database, as_of: datetime | None, region_prefix: str
) -> TrialBalanceRead:
    """Every account with postings in scope up to `as_of`: debit and credit totals and the
    balance. Each entry stays within one region, so the totals are equal in any scope. From
    the last balance snapshot at or before `as_of` plus the postings since
    (service/snapshots.py): at most one snapshot interval's postings (a day, with the job
    running) are added up, however long the journal."""
    async with _snapshot(db) as session:
        if as_of is None:
            as_of = await repo.now(session)
        since = await snapshot_repo.latest(session, as_of)
        rows = await repo.trial_balance(session, as_of, region_prefix, since)
    accounts = [
        TrialBalanceAccount(
            account_id=str(r.account.id),
            code=r.account.code,
            name=r.account.name,
            kind=r.account.kind,
            program_code=r.account.program_code,
            region_code=r.account.region_code,
            funding_source=r.account.funding_source,
            provider_id=r.account.provider_id,
            beneficiary_id=r.account.beneficiary_id,
            currency=r.account.currency.strip(),
            debit_fen=r.debit_fen,
            credit_fen=r.credit_fen,
            balance_fen=r.balance_fen,
        )
        for r in rows
    ]
    debit = sum(a.debit_fen for a in accounts)
    credit = sum(a.credit_fen for a in accounts)
    return TrialBalanceRead(
        as_of=_iso(as_of) or "",
        accounts=accounts,
        total_debit_fen=debit,
        total_credit_fen=credit,
        balanced=debit == credit,
    )


async def load_account(db: Database, account_id: int) -> Account:
    async with db.unit_of_work(readonly=True) as session:
        found = await repo.account(session, account_id)
    if found is None:
        raise AccountNotFound(field="account")
    return found


async def entries(
    db: Database,
    *,
    region_prefix: str,
    account: Account | None,
    filters: Mapping[str, str],
    period: str | None,
    start: datetime | None,
    end: datetime | None,
    after_seq: int | tuple[int, str],
    limit: int,
    as_of: datetime | None = None,
    account_code: str | None = None,
    whole: bool = False,
    newest_first: bool = False,
) -> EntryPage:
    """Entries having a posting that matches every filter, in seq order (keyset pages; with
    `whole`, every one up to `as_of` for a file).

    A combination that could only ever be empty by construction is refused rather than
    answered empty: a dimension the account's postings never carry, an account outside the
    asked region, a time window that ends before it starts.
    """
    if start is not None and end is not None and start > end:
        raise FilterNotSupported("`from` is after `to`.", field="from")
    if account is not None:
        spec = CHART[account.code]
        for dim in ENTRY_DIMENSIONS:
            if dim in filters and dim not in spec.filterable:
                raise FilterNotSupported(
                    f"Postings of account {spec.code} ({spec.name}) never carry {dim}.", field=dim
                )
        if not (account.region_code or "").startswith(region_prefix):
            raise FilterNotSupported(
                "The account lies outside the region asked for.", field="region_code"
            )
        if "program_code" in filters and account.program_code != filters["program_code"]:
            raise FilterNotSupported(
                "The account belongs to another program.", field="program_code"
            )
    match = PostingFilter(
        region_prefix=region_prefix,
        account_id=account.id if account is not None else None,
        account_code=account_code,
        provider_id=filters.get("provider_id"),
        beneficiary_id=filters.get("beneficiary_id"),
        voucher_id=filters.get("voucher_id"),
        program_code=filters.get("program_code"),
        period=period,
        start=start,
        end=end,
    )
    if whole:  # a file: every entry that matches (not a page), in one snapshot
        return await _all_entries(db, match, as_of)
    async with _snapshot(db) as session:
        if as_of is None:
            as_of = await repo.now(session)
        match = replace(match, end=as_of if end is None else min(end, as_of))
        after = (after_seq, "") if isinstance(after_seq, int) else after_seq
        entry_rows, posting_rows = await repo.entry_page(
            session, match, after, limit + 1, newest_first
        )
    more = len(entry_rows) > limit  # one more than the page: there is a next page (the
    entry_rows = entry_rows[:limit]  # extra entry's postings are left unused)
    last = (entry_rows[-1].seq, entry_rows[-1].book) if entry_rows else None
    return EntryPage(
        as_of=_iso(as_of) or "",
        entries=_entries_read(entry_rows, posting_rows),  # in page order
        next_cursor=cursor_text(last) if more and last else None,
    )


def cursor_text(key: tuple[int, str]) -> str:
    """A page's cursor: the last entry's seq and book (`12-4501`)."""
    return f"{key[0]}-{key[1]}"


def parse_cursor(text: str | None) -> tuple[int, str]:
    """`seq-book` (or a bare seq, as cursors were before books) as a keyset position."""
    if not text:
        return (0, "")
    seq, _, book = text.partition("-")
    return (int(seq), book)


async def _all_entries(db: Database, match: PostingFilter, as_of: datetime | None) -> EntryPage:
    """Every matching entry up to `as_of`, read page by page inside one snapshot;
    RANGE_TOO_LARGE past EXPORT_MAX_ENTRIES (narrow the filters, or take the file set)."""
    out: list[EntryRead] = []
    after: repo.EntryKey = (0, "")
    async with _snapshot(db) as session:
        if as_of is None:
            as_of = await repo.now(session)
        match = replace(match, end=as_of if match.end is None else min(match.end, as_of))
        while True:
            seqs = await repo.entry_seqs(session, match, after, 1000)
            if not seqs:
                break
            entry_rows, posting_rows = await repo.entries_by_seq(session, seqs)
            out.extend(_entries_read(entry_rows, posting_rows))
            if len(out) > EXPORT_MAX_ENTRIES:
                raise RangeTooLarge(
                    f"More than {EXPORT_MAX_ENTRIES} entries; narrow the filters.", field="to"
                )
            after = seqs[-1]
    return EntryPage(as_of=_iso(as_of) or "", entries=out, next_cursor=None)


async def chart_accounts(db: Database, region_prefix: str) -> list[Account]:
    async with _snapshot(db) as session:
        return await repo.accounts(session, region_prefix)


async def entry(db: Database, entry_id: uuid.UUID) -> EntryRead | None:
    async with _snapshot(db) as session:
        key = await repo.entry_seq(session, entry_id)
        if key is None:
            return None
        entry_rows, posting_rows = await repo.entries_by_seq(session, [key])
    return _entries_read(entry_rows, posting_rows)[0]


def _entries_read(rows: Sequence[Row[Any]], postings: Sequence[Row[Any]]) -> list[EntryRead]:
    """Entries and their postings as answered (rows of repository/audit.py `entries_by_seq`).
    An entry's postings share its id and date: each is formatted once."""
    by_entry: defaultdict[uuid.UUID, list[PostingRead]] = defaultdict(list)
    ids: dict[uuid.UUID, str] = {}
    times: dict[datetime, str] = {}
    for p in postings:
        entry_id = ids.get(p.entry_id) or ids.setdefault(p.entry_id, str(p.entry_id))
        posted = times.get(p.posted_at) or times.setdefault(p.posted_at, _iso(p.posted_at) or "")
        by_entry[p.entry_id].append(
            PostingRead(
                entry_id=entry_id,
                line=p.line,
                account_id=str(p.account_id),
                account=p.account_code,
                account_name=p.account_name,
                amount_fen=p.amount_fen,
                currency=p.currency.strip(),
                seq=p.seq,
                posted_at=posted,
                period=p.period.strip(),
                program_code=p.program_code,
                region_code=p.region_code,
                funding_source=p.funding_source,
                provider_id=p.provider_id,
                beneficiary_id=p.beneficiary_id,
                voucher_id=p.voucher_id,
            )
        )
    return [
        EntryRead(
            id=ids.get(e.id) or str(e.id),
            book=e.book,
            seq=e.seq,
            kind=e.kind,
            posted_at=times.get(e.posted_at) or _iso(e.posted_at) or "",
            period=e.period.strip(),
            program_code=e.program_code,
            region_code=e.region_code,
            provider_id=e.provider_id,
            beneficiary_id=e.beneficiary_id,
            voucher_id=e.voucher_id,
            ref=e.ref,
            event_id=str(e.event_id) if e.event_id else None,
            idempotency_key=e.idempotency_key,
            reverses_entry_id=str(e.reverses_entry_id) if e.reverses_entry_id else None,
            memo=e.memo,
            created_by=e.created_by,
            details=e.details,
            prev_hash=bytes(e.prev_hash).hex(),
            hash=bytes(e.hash).hex(),
            postings=by_entry.get(e.id, []),
        )
        for e in rows
    ]


async def statement(
    db: Database,
    account: Account,
    start: datetime | None,
    end: datetime | None,
    as_of: datetime | None = None,
) -> StatementRead:
    """Opening balance, every posting in the window with the running balance, closing.
    `as_of` (default: now) caps the window like the trial balance's: postings after it are
    left out, so a statement and a trial balance of the same `as_of` agree."""
    if start is not None and end is not None and start > end:
        raise FilterNotSupported("`from` is after `to`.", field="from")
    assert account.id is not None
    async with _snapshot(db) as session:
        if as_of is None:
            as_of = await repo.now(session)
        end = as_of if end is None else min(end, as_of)
        opening = 0 if start is None else await repo.opening_balance(session, account, start)
        rows = await repo.statement_lines(session, account.id, start, end, STATEMENT_MAX_LINES + 1)
    if len(rows) > STATEMENT_MAX_LINES:
        raise RangeTooLarge(field="to")
    running = opening
    lines = []
    for r in rows:
        running += r.amount_fen
        lines.append(
            StatementLine(
                seq=r.seq,
                entry_id=str(r.entry_id),
                line=r.line,
                kind=r.kind,
                ref=r.ref,
                memo=r.memo,
                posted_at=_iso(r.posted_at) or "",
                amount_fen=r.amount_fen,
                balance_fen=running,
                provider_id=r.provider_id,
                beneficiary_id=r.beneficiary_id,
                voucher_id=r.voucher_id,
            )
        )
    spec = CHART[account.code]
    return StatementRead(
        account_id=str(account.id),
        code=account.code,
        name=spec.name,
        region_code=account.region_code,
        program_code=account.program_code,
        funding_source=account.funding_source,
        provider_id=account.provider_id,
        beneficiary_id=account.beneficiary_id,
        normal_sign=spec.normal_sign,
        from_=_iso(start),
        to=_iso(end),
        as_of=_iso(as_of) or "",
        opening_balance_fen=opening,
        closing_balance_fen=running,
        lines=lines,
    )


# `/v1/metrics` folds the event tally when it sums more rows than this (a row an INSERT into
# the event log: a relay's batch, or fewer at a trickle); the snapshot job folds it too.
TALLY_FOLD_ROWS = 1000


async def metrics(db: Database, process: Mapping[str, int]) -> MetricsRead:
    async with _snapshot(db) as session:
        counted = await repo.event_counts(session)
        lag = await repo.event_lag(session)
        heads = [h for h in await repo.heads(session) if h.last_seq]
    if counted.tally_rows > TALLY_FOLD_ROWS:
        await fold_event_tally(db)
    last = max((h.last_posted_at for h in heads), default=None)
    return MetricsRead(
        entries=sum(h.last_seq for h in heads),
        last_posted_at=_iso(last) if last else None,
        events=[
            EventCountRead(type=c.type, status=c.status, count=c.count) for c in counted.counts
        ],
        last_event_occurred_at=_iso(lag.last_occurred_at),
        last_event_received_at=_iso(lag.last_received_at),
        recent_delivery_lag_s=lag.recent_lag_s,
        process=dict(process),
    )


async def fold_event_tally(db: Database) -> None:
    """The event tally's rows summed into one a (type, status) (repository/audit.py)."""
    async with db.unit_of_work() as session:
        await repo.fold_event_tally(session)


async def delivery_lag(db: Database) -> dict[str, Any]:
    """When the last event arrived, and the recent delivery lag: what readiness asks on every
    probe, read from the last events received (not `metrics`, which counts every event the
    ledger ever received: a scan of the whole event log per probe)."""
    async with _snapshot(db) as session:
        lag = await repo.event_lag(session)
    return {
        "recent_delivery_lag_s": lag.recent_lag_s,
        "last_event_received_at": _iso(lag.last_received_at),
    }


async def anchors(db: Database, after: int, limit: int) -> list[RootAnchor]:
    """The root chain's anchors after seq `after` (one snapshot)."""
    async with _snapshot(db) as session:
        return await repo.anchors(session, after, limit)
