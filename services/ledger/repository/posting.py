"""The journal posting: the ledger's one hot-path module, and its only raw SQL.

What the relay's event batches drive (service/events.py) and every other posting reuses: lock
the heads of the books written (service/books.py: one per city-level region), open the
accounts an entry touches, write entries and postings set-wise (one statement for all the
entries and all their postings, however many: `INSERT_ENTRIES_AND_POSTINGS`; the triggers
check them once per statement, migration ledger_0120), and the event log of a batch.

Contract: every function takes an `asyncpg.Connection` that is already inside a transaction,
and never commits or rolls back. The relay's batches run on the raw pool
(`db.raw_pool`, `async with conn.transaction()`); a cold path posts inside its own unit of
work through `services.common.db.raw_connection(session)` (keyed writes here, settlement's
payments), so the entry commits or rolls back with the rows that caused it. Every transaction
that writes entries calls `lock_heads` first for the books it writes (in book order): the
writers of one book are serialised on its head row and take every later lock in the same
order; writers of different books never wait on one another.

Through PgBouncer in transaction mode (`pooler=pgbouncer`, services/common/db.py) these
statements are not kept prepared: each is sent unnamed, parsed and planned on every execution,
one more round trip (docs/operations.md, "Connection pooling").

The statements are module constants built from the table names in models.py;
tests/ledger/test_posting_sql.py prepares each one against a migrated database and compares
what `write_entries` writes with the pure plans (service/plans.py) and hashing rule
(service/hashing.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.ledger.models import (
    ACCOUNT_BALANCE_SQL,
    ACCOUNT_KEY_DIMENSIONS,
    Account,
    BookHead,
    Entry,
    LedgerEvent,
    Posting,
)
from services.ledger.service import hashing
from services.ledger.service.books import book_of
from services.ledger.service.chart import CHART, AccountKey, balance_slots
from services.ledger.service.clock import TZ
from services.ledger.service.plans import EntryPlan, PostingPlan

BOOK = BookHead.__tablename__
ACCOUNT = Account.__tablename__
ENTRY = Entry.__tablename__
POSTING = Posting.__tablename__
EVENT = LedgerEvent.__tablename__


def _unnest(types: Sequence[str], first: int = 1) -> str:
    return ", ".join(f"${i + first}::{t}[]" for i, t in enumerate(types))


# Heads locked in book order (the lock follows the sort), so two writers of several books
# never lock them in opposite orders.
LOCK_HEADS = (
    "SELECT book, last_seq, last_hash, greatest(clock_timestamp(), last_posted_at) AS now "
    f"FROM {BOOK} WHERE book = ANY($1::text[]) ORDER BY book FOR UPDATE"
)
ALL_BOOKS = f"SELECT array_agg(book ORDER BY book) FROM {BOOK}"
# A transaction-scoped lock on one idempotency key: two requests with the same key, whatever
# their books, are decided one after the other.
KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('yiyang.ledger.key'), hashtext($1))"
# A book is opened empty on its first entry (the trigger refuses any other start).
OPEN_BOOKS = (
    f"INSERT INTO {BOOK} (book, last_seq, last_hash, last_posted_at) "
    "SELECT b, 0, decode(repeat('00', 32), 'hex'), '-infinity' FROM unnest($1::text[]) AS b "
    "ON CONFLICT (book) DO NOTHING"
)

# The dimensions that identify an account (uq_account_dimensions), in AccountKey's order.
_KEY_COLUMNS = ("code", *ACCOUNT_KEY_DIMENSIONS, "currency")
_KEY_TYPES = ("text",) * len(_KEY_COLUMNS)
OPEN_ACCOUNTS = (
    f"INSERT INTO {ACCOUNT} ({', '.join(_KEY_COLUMNS)}, "
    "name, kind, normal_sign, no_overdraft, balance_slots) "
    f"SELECT * FROM unnest({_unnest((*_KEY_TYPES, 'text', 'text', 'int', 'bool', 'int'))}) "
    "ON CONFLICT ON CONSTRAINT uq_account_dimensions DO NOTHING"
)
# An account's balance is its slots' sum (a hot account's: models.account_balance). One probe
# of ix_account_key a key (ledger_1402): its dimensions compared as text with NULL as '' (no
# dimension is ever empty text), then exactly. `IS NOT DISTINCT FROM` alone cannot use an
# index: every key compared with every account of its code, 0.5 s a batch at 2,000 providers.
FIND_ACCOUNTS = (
    f"SELECT k.ord, a.id, {ACCOUNT_BALANCE_SQL} AS balance_fen "
    f"FROM unnest({_unnest(_KEY_TYPES)}) WITH ORDINALITY AS k({', '.join(_KEY_COLUMNS)}, ord) "
    "CROSS JOIN LATERAL (SELECT a.id, a.balance_fen, a.balance_slots "
    f"FROM {ACCOUNT} a WHERE a.code = k.code AND a.currency = k.currency AND "
    + " AND ".join(f"coalesce(a.{c}, '') = coalesce(k.{c}, '')" for c in ACCOUNT_KEY_DIMENSIONS)
    + " AND "
    + " AND ".join(f"a.{c} IS NOT DISTINCT FROM k.{c}" for c in ACCOUNT_KEY_DIMENSIONS)
    + " LIMIT 1) AS a"
)

# Entry columns written from the plans (posted_at and period are sent once per statement).
ENTRY_COLUMNS = (
    ("id", "uuid"),
    ("book", "text"),
    ("seq", "bigint"),
    ("kind", "text"),
    ("program_code", "text"),
    ("region_code", "text"),
    ("provider_id", "text"),
    ("beneficiary_id", "text"),
    ("voucher_id", "text"),
    ("ref", "text"),
    ("event_id", "uuid"),
    ("idempotency_key", "text"),
    ("reverses_entry_id", "uuid"),
    ("memo", "text"),
    ("created_by", "text"),
    ("details", "jsonb"),
    ("prev_hash", "bytea"),
    ("hash", "bytea"),
)
# A posting sends only its own columns; the copies it carries (its entry's seq, book and
# dimensions, its account's dimensions) come from the entries inserted by the same statement
# (a data-modifying CTE: in memory, never a scan of the journal) and from the batch's few
# accounts, sent once each: a quarter of the values to encode per posting. A dimension is the
# account's when it keeps one, else the entry's (as `_write_book` hashes it).
POSTING_COLUMNS = (
    ("entry_id", "uuid"),
    ("line", "smallint"),
    ("account_id", "bigint"),
    ("amount_fen", "bigint"),
)
# The accounts the postings name: id, then the dimensions a posting copies.
ACCOUNT_COLUMNS = (
    ("id", "bigint"),
    ("currency", "text"),
    ("program_code", "text"),
    ("region_code", "text"),
    ("funding_source", "text"),
    ("provider_id", "text"),
    ("beneficiary_id", "text"),
)


def _insert_entries_and_postings() -> str:
    e_names = ", ".join(c for c, _ in ENTRY_COLUMNS)
    n_e, n_p = len(ENTRY_COLUMNS), len(POSTING_COLUMNS)
    posted, period = n_e + n_p + len(ACCOUNT_COLUMNS) + 1, n_e + n_p + len(ACCOUNT_COLUMNS) + 2
    return (
        f"WITH e AS (INSERT INTO {ENTRY} ({e_names}, posted_at, period) "
        f"SELECT {e_names}, ${posted}::timestamptz, ${period}::text "
        f"FROM unnest({_unnest([t for _, t in ENTRY_COLUMNS])}) "
        f"WITH ORDINALITY AS t({e_names}, ord) ORDER BY ord "
        "RETURNING id, seq, book, program_code, region_code, provider_id, beneficiary_id, "
        "voucher_id) "
        f"INSERT INTO {POSTING} (entry_id, line, account_id, amount_fen, currency, seq, "
        "program_code, region_code, funding_source, provider_id, beneficiary_id, voucher_id, "
        "book, posted_at, period) "
        "SELECT p.entry_id, p.line, p.account_id, p.amount_fen, a.currency, e.seq, "
        "coalesce(nullif(a.program_code, ''), e.program_code), "
        "coalesce(nullif(a.region_code, ''), e.region_code), a.funding_source, "
        "coalesce(nullif(a.provider_id, ''), e.provider_id), "
        "coalesce(nullif(a.beneficiary_id, ''), e.beneficiary_id), e.voucher_id, e.book, "
        f"${posted}::timestamptz, ${period}::text "
        f"FROM unnest({_unnest([t for _, t in POSTING_COLUMNS], n_e + 1)}) "
        f"AS p({', '.join(c for c, _ in POSTING_COLUMNS)}) "
        "JOIN e ON e.id = p.entry_id "
        f"JOIN unnest({_unnest([t for _, t in ACCOUNT_COLUMNS], n_e + n_p + 1)}) "
        f"AS a({', '.join(c for c, _ in ACCOUNT_COLUMNS)}) ON a.id = p.account_id"
    )


# Entries in chain order (the chain trigger reads them by seq; ORDER BY keeps the insert
# tidy) and their postings, in one statement (the triggers of both tables fire after it).
INSERT_ENTRIES_AND_POSTINGS = _insert_entries_and_postings()

# One primary-key probe per event of the batch (a LATERAL probe: never a scan of the event
# log, which the planner chose for `= ANY($1)` while the log was small).
SEEN_EVENTS = (
    "SELECT s.event_id, s.status, s.request_hash, s.entry_id, s.error_code, s.error_message "
    "FROM unnest($1::uuid[]) AS want(id) CROSS JOIN LATERAL "
    "(SELECT event_id, status, request_hash, entry_id, error_code, error_message "
    f"FROM {EVENT} WHERE event_id = want.id LIMIT 1) AS s"
)
EVENT_COLUMNS = (
    ("event_id", "uuid"),
    ("type", "text"),
    ("status", "text"),
    ("request_hash", "bytea"),
    ("entry_id", "uuid"),
    ("error_code", "text"),
    ("error_message", "text"),
    ("occurred_at", "timestamptz"),
)
INSERT_EVENTS = (
    f"INSERT INTO {EVENT} ({', '.join(c for c, _ in EVENT_COLUMNS)}) "
    f"SELECT * FROM unnest({_unnest([t for _, t in EVENT_COLUMNS])})"
)

# Which of these redemption ids have an entry: an index probe of ix_entry_kind_ref each (most
# refs of a batch are new redemptions, and have none). A LATERAL probe with LIMIT, which the
# planner can turn neither into `ref = ANY($1)` (whose generic plan compared every journal
# entry with each of the batch's refs) nor into a hash join over every redemption entry (which
# it chose while the journal was small): both grew with the journal.
REDEMPTION_REFS = (
    "SELECT want.ref FROM unnest($1::text[]) AS want(ref) CROSS JOIN LATERAL "
    f"(SELECT 1 FROM {ENTRY} e WHERE e.kind = 'redemption' AND e.ref = want.ref LIMIT 1) AS hit"
)
# Redemption entries by ref, as plans with their accounts' keys (a void reverses one). Asked
# only for the refs REDEMPTION_REFS found: given a batch's 500 refs, the planner expected
# 3,500 postings and hashed the whole posting table.
REDEMPTION_ENTRIES = (
    "SELECT e.id, e.kind, e.program_code, e.region_code, e.provider_id, e.beneficiary_id, "
    "e.voucher_id, e.ref, e.created_by, e.memo, "
    f"EXISTS (SELECT 1 FROM {ENTRY} r WHERE r.reverses_entry_id = e.id) AS reversed, "
    "array_agg(p.amount_fen ORDER BY p.line) AS amounts, "
    "array_agg(a.code ORDER BY p.line) AS codes, "
    "array_agg(a.program_code ORDER BY p.line) AS programs, "
    "array_agg(a.region_code ORDER BY p.line) AS regions, "
    "array_agg(a.funding_source ORDER BY p.line) AS sources, "
    "array_agg(a.provider_id ORDER BY p.line) AS providers, "
    "array_agg(a.beneficiary_id ORDER BY p.line) AS beneficiaries, "
    "array_agg(a.currency ORDER BY p.line) AS currencies "
    f"FROM unnest($1::text[]) AS want(ref) JOIN {ENTRY} e "
    "ON e.kind = 'redemption' AND e.ref = want.ref "
    f"JOIN {POSTING} p ON p.entry_id = e.id JOIN {ACCOUNT} a ON a.id = p.account_id "
    "GROUP BY e.id"
)

# Every raw statement of this module (tests prepare each against a migrated database).
STATEMENTS = (
    LOCK_HEADS,
    OPEN_BOOKS,
    ALL_BOOKS,
    KEY_LOCK,
    OPEN_ACCOUNTS,
    FIND_ACCOUNTS,
    INSERT_ENTRIES_AND_POSTINGS,
    SEEN_EVENTS,
    INSERT_EVENTS,
    REDEMPTION_REFS,
    REDEMPTION_ENTRIES,
)


def _in_transaction(conn: asyncpg.Connection) -> None:
    """The head lock and the chain need one transaction; outside one they would silently not
    hold (a connection taken from a session before its first statement is not in one yet)."""
    if not conn.is_in_transaction():
        raise RuntimeError("posting needs a transaction: run a statement of the session first")


# --- the head ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    """A book's head, locked: where its next entry continues the chain, and its date."""

    last_seq: int
    last_hash: bytes
    now: datetime
    book: str = "main"

    @property
    def period(self) -> str:
        return self.now.astimezone(TZ).strftime("%Y-%m")


class Heads(dict[str, Head]):
    """The heads a transaction holds, by book (filled by `lock_heads`)."""


async def lock_heads(
    conn: asyncpg.Connection, books: Iterable[str], heads: Heads | None = None
) -> Heads:
    """Lock these books' heads until the transaction ends (opening a book on its first
    entry), adding them to `heads`. `now` is the posting date of every entry written under a
    head: the database's clock, never before that book's last entry. Lock every book a
    transaction writes before reading balances: the head lock is what makes them stable."""
    _in_transaction(conn)
    heads = Heads() if heads is None else heads
    wanted = sorted(set(books) - set(heads))
    if not wanted:
        return heads
    rows = await conn.fetch(LOCK_HEADS, wanted)
    if len(rows) < len(wanted):
        await conn.execute(OPEN_BOOKS, wanted)
        rows = await conn.fetch(LOCK_HEADS, wanted)
    for r in rows:
        heads[r["book"]] = Head(r["last_seq"], bytes(r["last_hash"]), r["now"], r["book"])
    return heads


async def lock_all_heads(conn: asyncpg.Connection, heads: Heads | None = None) -> Heads:
    """Lock every book's head (a period close: no entry of any book is being written)."""
    _in_transaction(conn)
    books: list[str] | None = await conn.fetchval(ALL_BOOKS)
    return await lock_heads(conn, books or [], heads)


async def lock_key(conn: asyncpg.Connection, key: str) -> None:
    """Serialise the requests of one idempotency key until the transaction ends."""
    _in_transaction(conn)
    await conn.execute(KEY_LOCK, key)


async def lock_head(conn: asyncpg.Connection, book: str = "main") -> Head:
    """Lock one book's head (`lock_heads`)."""
    return (await lock_heads(conn, [book]))[book]


def books_of(plans: Iterable[EntryPlan]) -> set[str]:
    """The books these entries are written in (service/books.py `book_of`)."""
    return {book_of(p.region_code) for p in plans}


# --- accounts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAccount:
    id: int
    balance_fen: int


async def resolve_accounts(
    conn: asyncpg.Connection, keys: Iterable[AccountKey]
) -> dict[AccountKey, OpenAccount]:
    """Ids and current balances (a hot account's slots summed: exact under its book's head
    lock, which every writer of the account holds) of the accounts, opening the ones that do
    not exist yet: one statement when all exist, three otherwise, whatever their number.

    Existing accounts are only read: an INSERT ... ON CONFLICT on an account another
    transaction has just moved would wait for that transaction to end (the conflict check
    waits for the row's newest version), which would queue the writers of a hot account
    however many balance slots it has."""
    ordered = sorted(set(keys), key=AccountKey.sort_key)
    if not ordered:
        return {}
    found = await _find_accounts(conn, ordered)
    missing = [k for k in ordered if k not in found]
    if missing:
        cols = [list(c) for c in zip(*(k.as_tuple() for k in missing), strict=True)]
        specs = [CHART[k.code] for k in missing]
        await conn.execute(
            OPEN_ACCOUNTS,
            *cols,
            [s.name for s in specs],
            [s.kind for s in specs],
            [s.normal_sign for s in specs],
            [s.no_overdraft for s in specs],
            [balance_slots(s.code) for s in specs],
        )
        found.update(await _find_accounts(conn, missing))
    return found


async def _find_accounts(
    conn: asyncpg.Connection, ordered: Sequence[AccountKey]
) -> dict[AccountKey, OpenAccount]:
    cols = [list(c) for c in zip(*(k.as_tuple() for k in ordered), strict=True)]
    rows = await conn.fetch(FIND_ACCOUNTS, *cols)
    return {ordered[r["ord"] - 1]: OpenAccount(r["id"], r["balance_fen"]) for r in rows}


# --- entries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    entry_id: uuid.UUID
    seq: int
    book: str = "main"
    hash: bytes = b""


def _json_text(value: dict[str, Any]) -> str:
    """A jsonb parameter's text (PostgreSQL parses it: any valid JSON of the value will do)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, ensure_ascii=False)


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


async def write_entries(
    conn: asyncpg.Connection,
    heads: Heads,
    plans: Sequence[EntryPlan],
    accounts: Mapping[AccountKey, OpenAccount],
) -> list[Written]:
    """Insert the entries and their postings, each chained after its book's head in `heads`
    (locked by `lock_heads`; a book not locked yet is locked here, but its balances should
    have been read under the lock).

    One INSERT for all the entries and one for all their postings per date, whatever their
    number. The entries of a book share its head's date and period. Each entry is hashed from
    the same plain values the rows are written from (`hashing.entry_hash_plain`), so the chain
    verifies. A posting carries its account's dimensions, else its entry's.
    """
    if not plans:
        return []
    _in_transaction(conn)
    by_book: dict[str, list[EntryPlan]] = {}
    for plan in plans:
        by_book.setdefault(book_of(plan.region_code), []).append(plan)
    await lock_heads(conn, by_book, heads)
    written: dict[uuid.UUID, Written] = {}
    for book in sorted(by_book):
        for w in await _write_book(conn, heads[book], by_book[book], accounts):
            written[w.entry_id] = w
        last = written[by_book[book][-1].id]
        h = heads[book]
        heads[book] = Head(last.seq, last.hash, h.now, book)
    return [written[p.id] for p in plans]


async def _write_book(
    conn: asyncpg.Connection,
    head: Head,
    plans: Sequence[EntryPlan],
    accounts: Mapping[AccountKey, OpenAccount],
) -> list[Written]:
    book = head.book
    posted_at, period = head.now, head.period
    posted_text = hashing.utc_text(posted_at)
    e_rows: list[tuple[Any, ...]] = []
    p_rows: list[tuple[Any, ...]] = []
    used: dict[int, AccountKey] = {}  # the accounts the postings name, by id
    prev = head.last_hash
    seq = head.last_seq
    for plan in plans:
        seq += 1
        doc = {
            "id": str(plan.id),
            "book": book,
            "seq": seq,
            "kind": plan.kind,
            "posted_at": posted_text,
            "period": period,
            "program_code": plan.program_code,
            "region_code": plan.region_code,
            "provider_id": plan.provider_id,
            "beneficiary_id": plan.beneficiary_id,
            "voucher_id": plan.voucher_id,
            "ref": plan.ref,
            "event_id": _text(plan.event_id),
            "idempotency_key": plan.idempotency_key,
            "reverses_entry_id": _text(plan.reverses_entry_id),
            "memo": plan.memo,
            "created_by": plan.created_by,
        }
        if plan.details is not None:
            doc["details"] = plan.details
        lines = []
        for line, p in enumerate(plan.postings, start=1):
            k = p.account
            account_id = accounts[k].id
            used[account_id] = k
            p_rows.append((plan.id, line, account_id, p.amount_fen))
            lines.append(
                {
                    "line": line,
                    "account_id": account_id,
                    "amount_fen": p.amount_fen,
                    "currency": k.currency,
                    "seq": seq,
                    "posted_at": posted_text,
                    "period": period,
                    "program_code": k.program_code or plan.program_code,
                    "region_code": k.region_code or plan.region_code,
                    "funding_source": k.funding_source,
                    "provider_id": k.provider_id or plan.provider_id,
                    "beneficiary_id": k.beneficiary_id or plan.beneficiary_id,
                    "voucher_id": plan.voucher_id,
                }
            )
        h = hashing.entry_hash_plain(prev, doc, lines)
        e_rows.append(
            (
                plan.id,
                book,
                seq,
                plan.kind,
                plan.program_code,
                plan.region_code,
                plan.provider_id,
                plan.beneficiary_id,
                plan.voucher_id,
                plan.ref,
                plan.event_id,
                plan.idempotency_key,
                plan.reverses_entry_id,
                plan.memo,
                plan.created_by,
                None if plan.details is None else _json_text(plan.details),
                prev,
                h,
            )
        )
        prev = h
    a_rows = [
        (i, k.currency, k.program_code, k.region_code, k.funding_source, k.provider_id,
         k.beneficiary_id)
        for i, k in used.items()
    ]  # fmt: skip
    await conn.execute(
        INSERT_ENTRIES_AND_POSTINGS,
        *(list(c) for c in zip(*e_rows, strict=True)),
        *(list(c) for c in zip(*p_rows, strict=True)),
        *(list(c) for c in zip(*a_rows, strict=True)),
        posted_at,
        period,
    )
    return [Written(r[0], r[2], book, r[-1]) for r in e_rows]


def stored_plan(row: Mapping[Any, Any]) -> EntryPlan:
    """An entry read back with its postings (the columns of REDEMPTION_ENTRIES: the entry's,
    `reversed`, and the postings' amounts and accounts' keys as arrays in line order) as the
    plan it was written from; `memo` as stored."""
    postings = [
        PostingPlan(AccountKey(code, program, region, source, provider, beneficiary, cur), amount)
        for amount, code, program, region, source, provider, beneficiary, cur in zip(
            row["amounts"],
            row["codes"],
            row["programs"],
            row["regions"],
            row["sources"],
            row["providers"],
            row["beneficiaries"],
            [c.strip() for c in row["currencies"]],
            strict=True,
        )
    ]
    return EntryPlan(
        row["kind"],
        postings,
        row["created_by"],
        program_code=row["program_code"],
        region_code=row["region_code"],
        provider_id=row["provider_id"],
        beneficiary_id=row["beneficiary_id"],
        voucher_id=row["voucher_id"],
        ref=row["ref"],
        memo=row["memo"],
        id=row["id"],
        already_reversed=row["reversed"],
        in_db=True,
    )


async def redemption_entries(conn: asyncpg.Connection, refs: Sequence[str]) -> list[EntryPlan]:
    """The posted redemption entries of these redemption ids, with whether each is voided
    (the entries read only for the ids that have one)."""
    found = [r[0] for r in await conn.fetch(REDEMPTION_REFS, sorted(set(refs)))]
    if not found:
        return []
    return [stored_plan(r) for r in await conn.fetch(REDEMPTION_ENTRIES, found)]


# --- the event log -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """An event recorded before: how it was answered."""

    status: str
    request_hash: bytes
    entry_id: uuid.UUID | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One new event of a batch, as it is recorded (applied with its entry, or rejected)."""

    event_id: uuid.UUID
    type: str
    status: str
    request_hash: bytes
    entry_id: uuid.UUID | None
    error_code: str | None
    error_message: str | None
    occurred_at: datetime


async def events_by_id(
    conn: asyncpg.Connection, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SeenEvent]:
    rows = await conn.fetch(SEEN_EVENTS, list(ids))
    return {
        r["event_id"]: SeenEvent(
            r["status"],
            bytes(r["request_hash"]),
            r["entry_id"],
            r["error_code"],
            r["error_message"],
        )
        for r in rows
    }


async def insert_events(conn: asyncpg.Connection, records: Sequence[EventRecord]) -> None:
    if not records:
        return
    await conn.execute(INSERT_EVENTS, *([getattr(r, c) for r in records] for c, _ in EVENT_COLUMNS))
