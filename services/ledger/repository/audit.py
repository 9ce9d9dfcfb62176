"""Reads for auditors: trial balance, entries by every dimension in keyset pages, statements,
a book's chain in pages, the books' heads, the root chain's anchors (and the one write of
this module: an anchor), and the event counts behind /v1/metrics.

Callers run them inside one REPEATABLE READ, read-only unit of work
(`db.unit_of_work(isolation="REPEATABLE READ", readonly=True)`), so every page, total and
statement is one consistent snapshot. Each statement has the shape, and so the plan, the
indexes were made for: entries by provider, beneficiary or voucher through entry's
ix_entry_<dimension>_seq, by account through ix_posting_account_seq, by period through
ix_posting_period_seq, unfiltered (or by programme or region alone) through
ix_posting_seq_book, postings of a date range through the BRIN index on posting's date
(docs/performance.md "Indexes written per redemption"); the trial balance starts from a
period's balance snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Text,
    Uuid,
    and_,
    any_,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from services.ledger.models import (
    Account,
    BalanceSnapshot,
    BookHead,
    Entry,
    LedgerEvent,
    LedgerEventTally,
    Posting,
    RootAnchor,
    account_balance,
)


def _any_bigint(values: Sequence[int]) -> Any:
    """`= ANY($1::bigint[])`: one parameter, one prepared statement, whatever the count."""
    return any_(literal(list(values), ARRAY(BigInteger)))


async def plan_each_query(session: AsyncSession) -> datetime:
    """Plan every statement of this transaction for its own values (`plan_cache_mode =
    force_custom_plan`, transaction-local). The drivers prepare statements; after five runs
    PostgreSQL may switch to one generic plan, and for `account_id = $1 ... ORDER BY seq, book
    LIMIT n` that plan can walk the whole (seq, book) index filtering for the account: 1.5 s
    instead of 5 ms on a 2M-entry journal (docs/performance.md "Cold paths at scale"). An
    audit query's planning costs a fraction of a millisecond.

    Returns the database's clock, read by the same statement (the transaction's first: its
    snapshot is taken before the clock is read, so every entry it sees was posted before);
    `now` answers it for the rest of the transaction, one round trip fewer for every read."""
    setting = func.set_config("plan_cache_mode", "force_custom_plan", True)
    row = (await session.execute(select(setting, func.clock_timestamp()))).one()
    clock: datetime = row[1]
    session.info[_CLOCK] = clock
    return clock


_CLOCK = "audit_clock"


async def now(session: AsyncSession) -> datetime:
    """The database's clock (the default `as_of` of a trial balance, a page, a statement):
    the one `plan_each_query` read with the snapshot, else read now."""
    if _CLOCK in session.info:
        known: datetime = session.info[_CLOCK]
        return known
    value: datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
    return value


# --- trial balance -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountTotals:
    account: Account
    debit_fen: int
    credit_fen: int
    balance_fen: int


def _scan_totals(as_of: datetime, region_prefix: str, since: datetime | None) -> Any:
    """Per account: debit and credit totals of the postings in scope dated up to `as_of`
    (and from `since`)."""
    amount = col(Posting.amount_fen)
    where = [col(Posting.posted_at) <= as_of]
    if since is None:
        where.append(col(Posting.region_code).startswith(region_prefix))
    else:
        # At most a snapshot interval of postings: found by date (the BRIN index) and kept by
        # region as they are read. Written so the region index cannot serve it: the planner
        # would AND it with the BRIN bitmap, reading every index entry of the city's whole
        # history (400 ms for a city on a 10M-entry journal, docs/performance.md).
        prefix = literal(region_prefix, Text)
        where += [
            col(Posting.posted_at) >= since,
            func.left(col(Posting.region_code), func.length(prefix)) == prefix,
        ]
    return (
        select(
            col(Posting.account_id).label("account_id"),
            func.coalesce(func.sum(amount).filter(amount > 0), 0).label("debit_fen"),
            func.coalesce(-func.sum(amount).filter(amount < 0), 0).label("credit_fen"),
        )
        .where(*where)
        .group_by(col(Posting.account_id))
    )


async def _with_accounts(session: AsyncSession, parts: list[Any]) -> list[AccountTotals]:
    rows = union_all(*parts).subquery("rows") if len(parts) > 1 else parts[0].subquery("rows")
    debit = cast(func.sum(rows.c.debit_fen), BigInteger)
    credit = cast(func.sum(rows.c.credit_fen), BigInteger)
    totals = (
        select(
            rows.c.account_id,
            debit.label("debit_fen"),
            credit.label("credit_fen"),
            (debit - credit).label("balance_fen"),
        )
        .group_by(rows.c.account_id)
        .subquery("s")
    )
    stmt = (
        select(Account, totals.c.debit_fen, totals.c.credit_fen, totals.c.balance_fen)
        .join(totals, col(Account.id) == totals.c.account_id)
        .order_by(
            col(Account.code),
            col(Account.region_code),
            col(Account.program_code),
            col(Account.funding_source),
            col(Account.id),
        )
    )
    return [AccountTotals(*row) for row in (await session.execute(stmt)).all()]


async def trial_balance(
    session: AsyncSession,
    as_of: datetime,
    region_prefix: str,
    since: datetime | None = None,
) -> list[AccountTotals]:
    """Each account with postings in scope up to `as_of`, with its debit and credit totals
    and its balance then: the balance snapshot at `since` (its rows in the region prefix;
    service/snapshots.py) plus the postings dated from `since` to `as_of`, read by date
    through the BRIN index ix_posting_posted_at_brin; without `since`, every posting up to
    `as_of`. Joined to the accounts it names."""
    parts = [_scan_totals(as_of, region_prefix, since)]
    if since is not None:
        parts.append(
            select(
                col(BalanceSnapshot.account_id),
                col(BalanceSnapshot.debit_fen),
                col(BalanceSnapshot.credit_fen),
            ).where(
                col(BalanceSnapshot.until) == since,
                col(BalanceSnapshot.region_code).startswith(region_prefix),
            )
        )
    return await _with_accounts(session, parts)


async def account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


# --- entries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostingFilter:
    """Which postings an entries page asks for (every field that is set must match).

    Provider, beneficiary and voucher are the entry's: every posting of an entry carries the
    entry's value of each (the posting path writes the account's own provider or beneficiary,
    else the entry's, and a plan names an account of a provider or beneficiary only in an
    entry of that provider or beneficiary: service/plans.py; the posting trigger refuses a
    posting that does not repeat them, ENTRY_SEALED, tests/ledger/test_setwise_rules.py).
    So the entries with a posting of provider P are the entries of
    provider P; those pages are read from entry (one index row an entry, ix_entry_<dim>_seq,
    rather than one a posting) and their other filters checked on their postings."""

    region_prefix: str = ""
    account_id: int | None = None
    account_code: str | None = None  # every account of this chart code
    provider_id: str | None = None
    beneficiary_id: str | None = None
    voucher_id: str | None = None
    program_code: str | None = None
    period: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def by_entry(self) -> bool:
        """Whether the entry's own dimensions narrow the page (it is read from entry)."""
        return any(v is not None for v in (self.provider_id, self.beneficiary_id, self.voucher_id))

    def _own_conditions(self, table: type[Entry] | type[Posting]) -> list[ColumnElement[bool]]:
        """The filters an entry's own row answers, said of `table` (a posting repeats its
        entry's provider, beneficiary, voucher, period and date)."""
        where: list[ColumnElement[bool]] = []
        for name in ("provider_id", "beneficiary_id", "voucher_id", "period"):
            value = getattr(self, name)
            if value is not None:
                where.append(col(getattr(table, name)) == value)
        if self.start is not None:
            where.append(col(table.posted_at) >= self.start)
        if self.end is not None:
            where.append(col(table.posted_at) <= self.end)
        return where

    def entry_conditions(self) -> list[ColumnElement[bool]]:
        """The filters an entry's own row answers (its postings carry the same values)."""
        return self._own_conditions(Entry)

    def posting_conditions(self) -> list[ColumnElement[bool]]:
        """The filters only a posting answers (its account's region, account, programme)."""
        where: list[ColumnElement[bool]] = []
        if self.region_prefix:
            where.append(col(Posting.region_code).startswith(self.region_prefix))
        if self.account_id is not None:
            where.append(col(Posting.account_id) == self.account_id)
        if self.account_code is not None:
            of_code = select(col(Account.id)).where(col(Account.code) == self.account_code)
            where.append(col(Posting.account_id).in_(of_code))
        if self.program_code is not None:
            where.append(col(Posting.program_code) == self.program_code)
        return where

    def conditions(self) -> list[ColumnElement[bool]]:
        """Every filter, said of the posting."""
        return self.posting_conditions() + self._own_conditions(Posting)


# An entry is named by (seq, book): seqs are gapless per book. Pages run in (seq, book) order.
EntryKey = tuple[int, str]


def _keys(match: PostingFilter, after: EntryKey, limit: int, descending: bool) -> Any:
    """The query of the (seq, book) of the entries after `after` with a posting that matches, in
    order; `descending`: newest first, before `after` ((0, ""): from the newest)."""
    if match.by_entry():
        return _entry_keys(match, after, limit, descending)
    seq, book = col(Posting.seq), col(Posting.book)
    key = tuple_(seq, book)
    if descending:
        bound = [key < tuple_(literal(after[0]), literal(after[1]))] if after[0] else []
        return (
            select(seq, book)
            .distinct()
            .where(*bound, *match.conditions())
            .order_by(seq.desc(), book.desc())
            .limit(limit)
        )
    return (
        select(seq, book)
        .distinct()
        .where(key > tuple_(literal(after[0]), literal(after[1])), *match.conditions())
        .order_by(seq, book)
        .limit(limit)
    )


def _entry_keys(match: PostingFilter, after: EntryKey, limit: int, descending: bool) -> Any:
    """`_keys` for a provider, beneficiary or voucher: that dimension's entries in (seq, book)
    order by ix_entry_<dimension>_seq, each kept if one of its postings (by the posting key)
    answers the filters only postings can."""
    seq, book = col(Entry.seq), col(Entry.book)
    key = tuple_(seq, book)
    where = match.entry_conditions()
    rest = match.posting_conditions()
    if rest:
        where.append(exists().where(col(Posting.entry_id) == col(Entry.id), *rest))
    if descending:
        if after[0]:
            where.append(key < tuple_(literal(after[0]), literal(after[1])))
        order: tuple[Any, Any] = (seq.desc(), book.desc())
    else:
        where.append(key > tuple_(literal(after[0]), literal(after[1])))
        order = (seq, book)
    return select(seq, book).where(*where).order_by(*order).limit(limit)


async def entry_seqs(
    session: AsyncSession,
    match: PostingFilter,
    after: EntryKey,
    limit: int,
    descending: bool = False,
) -> list[EntryKey]:
    """The (seq, book) of the entries after `after` with a posting that matches, in order;
    `descending`: newest first, before `after` ((0, ""): from the newest)."""
    stmt = _keys(match, after, limit, descending)
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def entry_page(
    session: AsyncSession,
    match: PostingFilter,
    after: EntryKey,
    limit: int,
    descending: bool = False,
) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]]]:
    """A page: the entries `entry_seqs` names, found and read in one statement (the keys
    are a subquery joined to entry on (book, seq)), in page order, and all their postings
    (`entries_by_seq`'s rows). Two round trips for a page instead of three."""
    entry = Entry.metadata.tables[Entry.__tablename__]
    keys = _keys(match, after, limit, descending).subquery("keys")
    order = (entry.c.seq.desc(), entry.c.book.desc()) if descending else (entry.c.seq, entry.c.book)
    entries = (
        await session.execute(
            select(entry)
            .join(keys, and_(entry.c.book == keys.c.book, entry.c.seq == keys.c.seq))
            .order_by(*order)
        )
    ).all()
    return entries, await _postings_of(session, [e.id for e in entries])


async def entry_seq(session: AsyncSession, entry_id: uuid.UUID) -> EntryKey | None:
    row = (
        await session.execute(
            select(col(Entry.seq), col(Entry.book)).where(col(Entry.id) == entry_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def entries_by_seq(
    session: AsyncSession, keys: Sequence[EntryKey]
) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]]]:
    """The entries with these (seq, book), in (seq, book) order, and all their postings with
    their account's code and name (`account_code`, `account_name`), in (seq, book, line)
    order: plain rows (the tables' columns by name), not ORM objects, for a page is read
    and answered, never changed (building 500 ORM objects was most of a page's time)."""
    if not keys:
        return [], []
    entry = Entry.metadata.tables[Entry.__tablename__]
    wanted = sorted(set(keys))
    books = [k[1] for k in wanted]
    seqs = [k[0] for k in wanted]
    named = select(
        func.unnest(literal(books, ARRAY(Text))).label("book"),
        func.unnest(literal(seqs, ARRAY(BigInteger))).label("seq"),
    ).subquery("named")
    entries = (
        await session.execute(
            select(entry)
            .join(named, and_(entry.c.book == named.c.book, entry.c.seq == named.c.seq))
            .order_by(entry.c.seq, entry.c.book)
        )
    ).all()
    return entries, await _postings_of(session, [e.id for e in entries])


async def _postings_of(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
    """These entries' postings with their account's code and name, by (seq, book, line)."""
    if not ids:
        return []
    posting = Posting.metadata.tables[Posting.__tablename__]
    postings = await session.execute(
        select(
            posting,
            col(Account.code).label("account_code"),
            col(Account.name).label("account_name"),
        )
        .join(Account, col(Account.id) == posting.c.account_id)
        .where(posting.c.entry_id == any_(literal(list(ids), ARRAY(Uuid()))))
        .order_by(posting.c.seq, posting.c.book, posting.c.line)
    )
    return postings.all()


async def accounts(session: AsyncSession, region_prefix: str) -> list[Account]:
    """The chart's accounts in scope (region prefix), by code, region and id."""
    stmt = (
        select(Account)
        .where(col(Account.region_code).startswith(region_prefix))
        .order_by(col(Account.code), col(Account.region_code), col(Account.id))
    )
    return list((await session.scalars(stmt)).all())


# --- statements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementRow:
    seq: int
    entry_id: uuid.UUID
    line: int
    amount_fen: int
    posted_at: datetime
    kind: str
    ref: str | None
    memo: str | None
    provider_id: str | None
    beneficiary_id: str | None
    voucher_id: str | None


async def opening_balance(session: AsyncSession, account: Account, start: datetime) -> int:
    """The account's balance just before `start`: the last balance snapshot at or before
    `start` (service/snapshots.py) plus the account's postings dated from it to `start`, read
    by date (the BRIN index) or by the account (ix_posting_account_seq), whichever the planner
    finds fewer; without a snapshot, or for an account without a region (the snapshots leave
    postings without one out; an account's postings carry its own region when it has one),
    the sum of all its postings before `start`. Either way not the account's whole history
    through an (account, date) index, which posting no longer has (ledger_1301)."""
    assert account.id is not None
    amount = col(Posting.amount_fen)
    dated = [col(Posting.account_id) == account.id, col(Posting.posted_at) < start]
    since = None
    if account.region_code is not None:
        since = await session.scalar(
            select(func.max(col(BalanceSnapshot.until))).where(col(BalanceSnapshot.until) <= start)
        )
    if since is None:
        stmt = select(cast(func.coalesce(func.sum(amount), 0), BigInteger)).where(*dated)
        total: int = (await session.execute(stmt)).scalar_one()
        return total
    snapshot = select(func.coalesce(func.sum(col(BalanceSnapshot.balance_fen)), 0)).where(
        col(BalanceSnapshot.until) == since, col(BalanceSnapshot.account_id) == account.id
    )
    moved = select(func.coalesce(func.sum(amount), 0)).where(
        *dated, col(Posting.posted_at) >= since
    )
    both = cast(snapshot.scalar_subquery() + moved.scalar_subquery(), BigInteger)
    found: int = (await session.execute(select(both))).scalar_one()
    return found


async def statement_lines(
    session: AsyncSession,
    account_id: int,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[StatementRow]:
    """The account's postings in the window, in order, with their entries' kind, ref, memo:
    read in seq order by ix_posting_account_seq and kept by date (a book's seqs rise with its
    dates)."""
    where: list[ColumnElement[bool]] = [col(Posting.account_id) == account_id]
    if start is not None:
        where.append(col(Posting.posted_at) >= start)
    if end is not None:
        where.append(col(Posting.posted_at) <= end)
    stmt = (
        select(
            col(Posting.seq),
            col(Posting.entry_id),
            col(Posting.line),
            col(Posting.amount_fen),
            col(Posting.posted_at),
            col(Entry.kind),
            col(Entry.ref),
            col(Entry.memo),
            col(Posting.provider_id),
            col(Posting.beneficiary_id),
            col(Posting.voucher_id),
        )
        .join(Entry, col(Entry.id) == col(Posting.entry_id))
        .where(*where)
        .order_by(col(Posting.seq), col(Posting.book), col(Posting.line))
        .limit(limit)
    )
    return [StatementRow(*row) for row in (await session.execute(stmt)).all()]


# --- the chain -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainPage:
    """Entries in seq order and their postings, as the columns the hash covers
    (service/hashing.py reads them by name)."""

    entries: Sequence[RowMapping]
    postings: Sequence[RowMapping]


async def chain_pages(
    session: AsyncSession, book: str, page: int = 500
) -> AsyncIterator[ChainPage]:
    """A book's whole chain, a page at a time (plain rows: every entry and posting of it)."""
    entry = Entry.metadata.tables[Entry.__tablename__]
    posting = Posting.metadata.tables[Posting.__tablename__]
    after = 0
    while True:
        entries = (
            (
                await session.execute(
                    select(entry)
                    .where(entry.c.book == book, entry.c.seq > after)
                    .order_by(entry.c.seq)
                    .limit(page)
                )
            )
            .mappings()
            .all()
        )
        if not entries:
            return
        ids = [e["id"] for e in entries]
        postings = (
            (
                await session.execute(
                    select(posting)
                    .where(posting.c.entry_id == any_(literal(ids, ARRAY(Uuid()))))
                    .order_by(posting.c.entry_id, posting.c.line)
                )
            )
            .mappings()
            .all()
        )
        yield ChainPage(entries, postings)
        after = entries[-1]["seq"]


async def heads(session: AsyncSession) -> list[BookHead]:
    """Every book's head, by book."""
    return list((await session.scalars(select(BookHead).order_by(col(BookHead.book)))).all())


async def head(session: AsyncSession, book: str) -> BookHead | None:
    return await session.get(BookHead, book)


async def anchors(session: AsyncSession, after: int = 0, page: int = 1000) -> list[RootAnchor]:
    """The root chain's anchors after seq `after`, in order."""
    stmt = (
        select(RootAnchor)
        .where(col(RootAnchor.seq) > after)
        .order_by(col(RootAnchor.seq))
        .limit(page)
    )
    return list((await session.scalars(stmt)).all())


async def last_anchor(session: AsyncSession) -> RootAnchor | None:
    stmt = select(RootAnchor).order_by(col(RootAnchor.seq).desc()).limit(1)
    return (await session.scalars(stmt)).first()


async def entry_hashes(session: AsyncSession, pairs: Sequence[EntryKey]) -> dict[EntryKey, bytes]:
    """The stored hashes of these (seq, book) entries."""
    if not pairs:
        return {}
    rows = await session.execute(
        select(col(Entry.seq), col(Entry.book), col(Entry.hash)).where(
            col(Entry.seq) == _any_bigint(sorted({p[0] for p in pairs})),
            col(Entry.book).in_(sorted({p[1] for p in pairs})),
        )
    )
    wanted = set(pairs)
    return {(r[0], r[1]): bytes(r[2]) for r in rows.all() if (r[0], r[1]) in wanted}


async def add_anchor(session: AsyncSession, anchor: RootAnchor) -> None:
    session.add(anchor)
    await session.flush()


async def balance_mismatches(session: AsyncSession, limit: int = 10) -> list[int]:
    """Accounts whose stored balance is not the sum of their postings (at most `limit`)."""
    totals = (
        select(
            col(Posting.account_id).label("account_id"),
            func.sum(col(Posting.amount_fen)).label("total"),
        )
        .group_by(col(Posting.account_id))
        .subquery("s")
    )
    stmt = (
        select(col(Account.id))
        .outerjoin(totals, totals.c.account_id == col(Account.id))
        .where(account_balance() != func.coalesce(totals.c.total, 0))
        .order_by(col(Account.id))
        .limit(limit)
    )
    return [i for i in (await session.scalars(stmt)).all() if i is not None]


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventCount:
    type: str
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class EventCounts:
    counts: list[EventCount]
    tally_rows: int  # the rows summed: `fold_event_tally` makes them one a (type, status)


async def event_counts(session: AsyncSession) -> EventCounts:
    """Events recorded by type and outcome, from the tally the event log's statement trigger
    keeps (ledger_event_tally.sql), never counting the log itself."""
    t = LedgerEventTally
    stmt = (
        select(col(t.type), col(t.status), func.sum(col(t.n)), func.count())
        .group_by(col(t.type), col(t.status))
        .order_by(col(t.type), col(t.status))
    )
    rows = (await session.execute(stmt)).all()
    return EventCounts(
        counts=[EventCount(r[0], r[1], int(r[2])) for r in rows],
        tally_rows=sum(int(r[3]) for r in rows),
    )


async def fold_event_tally(session: AsyncSession) -> None:
    """The tally's rows summed into one a (type, status), in one statement: the rows it
    deletes are the rows it sums. A batch recording events meanwhile appends rows this
    statement does not see, which stay for the next fold; two folds at once delete each row
    once (the second skips what the first deleted)."""
    t = LedgerEventTally
    gone = delete(t).returning(col(t.type), col(t.status), col(t.n)).cte("gone")
    sums = select(gone.c.type, gone.c.status, func.sum(gone.c.n)).group_by(
        gone.c.type, gone.c.status
    )
    await session.execute(insert(t).from_select(["type", "status", "n"], sums).add_cte(gone))


@dataclass(frozen=True, slots=True)
class EventLag:
    last_occurred_at: datetime | None
    last_received_at: datetime | None
    recent_lag_s: float | None


# How far back `event_lag` looks for the last events, widening until it has found enough.
LAG_WINDOWS = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=31))


async def event_lag(session: AsyncSession, recent: int = 100) -> EventLag:
    """When the last event happened and arrived, and the mean delivery lag of the last
    `recent`. Events arrive in order of `received_at`, so the block ranges of the BRIN index
    ix_ledger_event_received_at_brin hold the recent ones: the last `recent` are looked for
    among those received in the last minute, then hour, day, month, and only then among all
    (a window that holds `recent` of them holds the last `recent`: the answer is the same
    as ordering every event by arrival)."""
    clock = await now(session)
    for window in (*LAG_WINDOWS, None):
        where = [] if window is None else [col(LedgerEvent.received_at) >= clock - window]
        last = (
            select(col(LedgerEvent.occurred_at), col(LedgerEvent.received_at))
            .where(*where)
            .order_by(col(LedgerEvent.received_at).desc())
            .limit(recent)
            .subquery("recent")
        )
        stmt = select(
            func.max(last.c.occurred_at),
            func.max(last.c.received_at),
            extract("epoch", func.avg(last.c.received_at - last.c.occurred_at)),
            func.count(),
        )
        occurred, received, lag, found = (await session.execute(stmt)).one()
        if found >= recent or window is None:
            break
    return EventLag(occurred, received, float(lag) if lag is not None else None)


async def lock_anchoring(session: AsyncSession) -> None:
    """One anchor is written at a time (a transaction-scoped advisory lock)."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(literal("yiyang.ledger.anchor"))))
    )
