"""Tables of the ledger service (its own database): the one definition of each table.

Most of what matters about the journal is enforced by the database itself, in the functions
and triggers of `migrations/sql/` (the hash chain, balanced entries, balances moved only by
postings, no overdraft of budget or vouchers outstanding, append-only rows): see
docs/ledger.md. These classes describe the columns, keys, indexes and CHECK constraints the
migrations built (tests/common/test_models_match_migrations.py keeps them equal); rules live
in service/, SQL in repository/.

Settlement's tables (claims, payment batches) live in the same database and on the same
metadata, declared in services/ledger/settlement/models.py, which imports `LedgerTable` from
here; this module never imports it back. Whoever needs the complete metadata of the ledger
database (the migrations, the drift check) imports the modules named in `TABLE_MODULES` too
(`services.common.migrate.service_metadata`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    case,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import CHAR, JSONB, UUID
from sqlmodel import Field, SQLModel, col

from services.common.db import make_registry

registry = make_registry()
metadata = registry.metadata

# Modules besides this one that declare tables of the ledger database on `metadata`.
TABLE_MODULES: tuple[str, ...] = ("services.ledger.settlement.models",)


class LedgerTable(SQLModel, registry=registry):
    """Base of every table of this service (keeps them out of the other services' metadata)."""


def _text(*, nullable: bool = False, **kwargs: Any) -> Any:
    return Field(sa_column=Column(Text, nullable=nullable, **kwargs))


def _varchar(length: int, *, nullable: bool = True, **kwargs: Any) -> Any:
    return Field(sa_column=Column(String(length), nullable=nullable, **kwargs))


def _fen(**kwargs: Any) -> Any:
    return Field(sa_column=Column(BigInteger, nullable=False, **kwargs))


def _period() -> Any:
    """'YYYY-MM', stored as char(7)."""
    return Field(sa_column=Column(CHAR(7), nullable=False))


def _currency() -> Any:
    return Field(sa_column=Column(CHAR(3), nullable=False, server_default=text("'CNY'")))


def _created_at(default: Any = None) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            DateTime(timezone=True), nullable=False, server_default=default or func.now()
        ),
    )


def _bytes() -> Any:
    return Field(sa_column=Column(LargeBinary, nullable=False))


def _uuid(*args: Any, nullable: bool = True, **kwargs: Any) -> Any:
    return Field(
        default=None, sa_column=Column(UUID(as_uuid=True), *args, nullable=nullable, **kwargs)
    )


class BookHead(LedgerTable, table=True):
    """The head of a book's hash chain: its last entry's seq, hash and date. One row per book
    (service/books.py: a city-level region prefix, or `main`), opened empty on first use.

    Every writer of a book locks its row first (repository/posting.py `lock_heads`), so the
    writers of one book are serialised and those of different books never wait on one
    another; only the journal's own triggers move it."""

    __tablename__ = "book_head"
    book: str = Field(sa_column=Column(Text, primary_key=True))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: bytes = _bytes()
    last_posted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    __table_args__ = (CheckConstraint("book = 'main' OR book ~ '^[0-9]{4}$'", name="book_name"),)


class RootAnchor(LedgerTable, table=True):
    """The root chain: each anchor commits every book's head (`heads`: [{book, seq, hash}]
    sorted by book) and is chained to the anchor before it (service/books.py). Append-only;
    the trigger `ledger_root_anchor_chain` refuses an anchor that does not continue it."""

    __tablename__ = "root_anchor"
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    anchored_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    heads: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    prev_hash: bytes = _bytes()
    hash: bytes = _bytes()

    __table_args__ = (
        CheckConstraint("octet_length(hash) = 32", name="hash_length"),
        CheckConstraint("jsonb_typeof(heads) = 'array'", name="heads_array"),
    )


# The dimensions of an account's key that may be NULL (service/chart.py AccountKey).
ACCOUNT_KEY_DIMENSIONS = (
    "program_code",
    "region_code",
    "funding_source",
    "provider_id",
    "beneficiary_id",
)


class Account(LedgerTable, table=True):
    """An account of the chart (service/chart.py) kept by its dimensions; its balance moves
    only with postings (trigger `ledger_posting_apply`)."""

    __tablename__ = "account"
    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    code: str = _varchar(4, nullable=False)
    name: str = _text()
    kind: str = _varchar(12, nullable=False)
    normal_sign: int = Field(sa_column=Column(SmallInteger, nullable=False))
    no_overdraft: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    program_code: str | None = _varchar(40)
    region_code: str | None = _varchar(12)
    funding_source: str | None = _varchar(32)
    provider_id: str | None = _varchar(64)
    beneficiary_id: str | None = _varchar(64)
    currency: str = _currency()
    # Slot 0 of the balance; a hot account's other slots are AccountBalanceSlot rows, and its
    # balance is their sum (`account_balance`).
    balance_fen: int = _fen(server_default=text("0"))
    created_at: datetime | None = _created_at()
    balance_slots: int = Field(
        default=1, sa_column=Column(SmallInteger, nullable=False, server_default=text("1"))
    )

    __table_args__ = (
        CheckConstraint(
            "kind IN ('asset', 'liability', 'net_assets', 'revenue', 'expense')", name="kind"
        ),
        CheckConstraint("normal_sign IN (1, -1)", name="normal_sign"),
        CheckConstraint("NOT no_overdraft OR balance_fen * normal_sign >= 0", name="no_overdraft"),
        CheckConstraint("balance_slots BETWEEN 1 AND 16", name="balance_slots"),
        UniqueConstraint(
            "code",
            "program_code",
            "region_code",
            "funding_source",
            "provider_id",
            "beneficiary_id",
            "currency",
            name="uq_account_dimensions",
            postgresql_nulls_not_distinct=True,
        ),
        # Region scope is a prefix (LIKE '4501%'): text_pattern_ops serves it in any collation.
        Index(
            "ix_account_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index("ix_account_code_program_region", "code", "program_code", "region_code"),
        # An account found by its key, one probe (repository/posting.py FIND_ACCOUNTS): the
        # dimensions with NULL as '' (uq_account_dimensions cannot serve IS NOT DISTINCT FROM).
        Index(
            "ix_account_key",
            "code",
            *(text(f"coalesce({c}, '')") for c in ACCOUNT_KEY_DIMENSIONS),
            "currency",
        ),
    )


class AccountBalanceSlot(LedgerTable, table=True):
    """A slot 1..n-1 of a hot account's balance (slot 0 is `account.balance_fen`; migration
    ledger_1101, migrations/sql/ledger_hot_balance.sql). Concurrent postings to one hot account
    each move a slot they can lock without waiting; every slot of a no-overdraft account stays
    on its side of zero, so their sum does. Opened empty with the account, moved only by the
    posting trigger."""

    __tablename__ = "account_balance_slot"
    account_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("account.id"), primary_key=True)
    )
    slot: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    no_overdraft: bool = Field(sa_column=Column(Boolean, nullable=False))
    normal_sign: int = Field(sa_column=Column(SmallInteger, nullable=False))
    balance_fen: int = _fen(server_default=text("0"))

    __table_args__ = (
        CheckConstraint("slot BETWEEN 1 AND 15", name="slot"),
        CheckConstraint("NOT no_overdraft OR balance_fen * normal_sign >= 0", name="no_overdraft"),
    )


def account_balance() -> Any:
    """An account's balance as every read must take it: slot 0 plus a hot account's other
    slots (a correlated SQL expression over `account`)."""
    slots = (
        select(cast(func.coalesce(func.sum(col(AccountBalanceSlot.balance_fen)), 0), BigInteger))
        .where(col(AccountBalanceSlot.account_id) == col(Account.id))
        .scalar_subquery()
    )
    return col(Account.balance_fen) + case((col(Account.balance_slots) > 1, slots), else_=0)


# The same, in raw SQL over an account aliased `a` (repository/posting.py).
ACCOUNT_BALANCE_SQL = (
    "a.balance_fen + CASE WHEN a.balance_slots > 1 THEN (SELECT coalesce(sum(b.balance_fen), 0) "
    "FROM account_balance_slot b WHERE b.account_id = a.id)::bigint ELSE 0 END"
)


class AccountingPeriod(LedgerTable, table=True):
    """A closed period: the database refuses entries dated in it."""

    __tablename__ = "accounting_period"
    period: str = Field(sa_column=Column(CHAR(7), primary_key=True))
    closed_at: datetime | None = _created_at()
    closed_by: str = _text()

    __table_args__ = (CheckConstraint("period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'", name="shape"),)


class Entry(LedgerTable, table=True):
    """A journal entry: a link of the hash chain (seq, prev_hash, hash; service/hashing.py)."""

    __tablename__ = "entry"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    book: str = Field(
        default="main", sa_column=Column(Text, nullable=False, server_default=text("'main'"))
    )
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = _varchar(32, nullable=False)
    posted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    period: str = _period()
    program_code: str | None = _varchar(40)
    region_code: str | None = _varchar(12)
    provider_id: str | None = _varchar(64)
    beneficiary_id: str | None = _varchar(64)
    voucher_id: str | None = _varchar(64)
    ref: str | None = _text(nullable=True)
    event_id: uuid.UUID | None = _uuid()
    idempotency_key: str = _text()
    reverses_entry_id: uuid.UUID | None = _uuid()
    memo: str | None = _text(nullable=True)
    created_by: str = _text()
    # Who and why beyond created_by (a redemption's terminal, staff member, service item and
    # gross bill; a void's actor): a JSON object, hashed when present (service/hashing.py).
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    prev_hash: bytes = _bytes()
    hash: bytes = _bytes()
    # The writing transaction's id: the database's own (column default); postings may only be
    # added to an entry of the same transaction.
    txid: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, nullable=False, server_default=text("txid_current()")),
    )

    __table_args__ = (
        CheckConstraint("octet_length(hash) = 32", name="hash_length"),
        CheckConstraint(
            "details IS NULL OR jsonb_typeof(details) = 'object'", name="details_object"
        ),
        # (no foreign key on book: the chain trigger refuses an entry of a book without a
        # head, UNKNOWN_BOOK, once per statement; heads are never deleted. Migration ledger_1102)
        ForeignKeyConstraint(
            ["reverses_entry_id"], ["entry.id"], name="entry_reverses_entry_id_fkey"
        ),
        UniqueConstraint("book", "seq", name="uq_entry_book_seq"),
        UniqueConstraint("idempotency_key", name="uq_entry_idempotency_key"),
        # each entry is reversed at most once, whoever tries (only reversals are indexed: every
        # other entry's NULL was an index entry written per event until ledger_1403)
        Index(
            "uq_entry_reverses_entry_id",
            "reverses_entry_id",
            unique=True,
            postgresql_where=text("reverses_entry_id IS NOT NULL"),
        ),
        Index("ix_entry_kind_ref", "kind", "ref"),
        # a period's entries of a kind: reconciliation, claims, co-payments (ledger_1001)
        Index("ix_entry_period_kind", "period", "kind"),
        # The auditor's entries by provider, beneficiary, voucher, in (seq, book) order: one
        # index row per entry instead of one per posting (ledger_1301; every posting of an
        # entry carries the entry's value of these, repository/audit.py `PostingFilter`).
        Index(
            "ix_entry_provider_seq",
            "provider_id",
            "seq",
            "book",
            postgresql_where=text("provider_id IS NOT NULL"),
        ),
        Index(
            "ix_entry_beneficiary_seq",
            "beneficiary_id",
            "seq",
            "book",
            postgresql_where=text("beneficiary_id IS NOT NULL"),
        ),
        Index(
            "ix_entry_voucher_seq",
            "voucher_id",
            "seq",
            "book",
            postgresql_where=text("voucher_id IS NOT NULL"),
        ),
        # the cash benefits of the month they are for (ledger_1405; settlement/repository/
        # cash_benefits.py `benefit_month` is the same expression)
        Index(
            "ix_entry_cash_benefit_month",
            text("(coalesce(details ->> 'benefit_period', period::text))"),
            postgresql_where=text("kind = 'cash_benefit'"),
        ),
    )


class Posting(LedgerTable, table=True):
    """One line of an entry. The entry's seq, date and period and the account's dimensions are
    copied onto it so that every audit filter reads postings alone (through an index where a
    target needs one: below). No foreign keys: the posting trigger checks the entry and the
    account once per statement (migration ledger_0120)."""

    __tablename__ = "posting"
    entry_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    line: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    account_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_fen: int = _fen()
    currency: str = _currency()
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    posted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    period: str = _period()
    program_code: str | None = _varchar(40)
    region_code: str | None = _varchar(12)
    funding_source: str | None = _varchar(32)
    provider_id: str | None = _varchar(64)
    beneficiary_id: str | None = _varchar(64)
    voucher_id: str | None = _varchar(64)
    # The entry's book, copied like its seq (checked by the posting trigger; not hashed):
    # (seq, book) names the entry.
    book: str = Field(
        default="main", sa_column=Column(Text, nullable=False, server_default=text("'main'"))
    )

    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="nonzero"),
        # Written for every posting, so only what the audit targets need (ledger_1301,
        # docs/performance.md "Indexes written per redemption"): entries and statements of an
        # account (and date windows of them: an account's postings in seq order, filtered by
        # date), unfiltered, programme and region pages ((seq, book), filtered), a period's
        # postings (reconciliation, period pages), date ranges (the BRIN index). Entries by
        # provider, beneficiary and voucher are found through entry's indexes.
        Index("ix_posting_account_seq", "account_id", "seq"),
        Index("ix_posting_seq_book", "seq", "book"),
        # Append-only, written in date order: block ranges serve date ranges (ledger_0701).
        Index("ix_posting_posted_at_brin", "posted_at", postgresql_using="brin"),
        Index("ix_posting_period_seq", "period", "seq"),
    )


class BalanceSnapshot(LedgerTable, table=True):
    """Balances at an instant: per account and posting region, the debit and credit totals and
    balance of every posting dated before `until` (service/snapshots.py: written by the period
    close at the period's end, and by the snapshot job at each day's start). The trial balance
    as of a date starts from the last one at or before it."""

    __tablename__ = "balance_snapshot"
    until: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    account_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    # The postings' region (the trial balance counts only postings that have one).
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    debit_fen: int = _fen()
    credit_fen: int = _fen()
    balance_fen: int = _fen()

    __table_args__ = (CheckConstraint("balance_fen = debit_fen - credit_fen", name="totals"),)


class BudgetExecution(LedgerTable, table=True):
    """The postings to budget available (3001) summed per account and entry kind, for the
    kinds the dashboard shows apart (appropriation, commitment, expiry): added at COMMIT by the
    deferred trigger `budget_execution_entry` on `entry` (migrations/sql/
    budget_execution_summary.sql), read by `GET /v1/budget/execution` instead of the postings."""

    __tablename__ = "budget_execution"
    account_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    amount_fen: int = _fen()


class LedgerEvent(LedgerTable, table=True):
    """An outbox event seen: applied (with its entry) or rejected (with why), once by id."""

    __tablename__ = "ledger_event"
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    type: str = _varchar(40, nullable=False)
    status: str = _varchar(10, nullable=False)
    request_hash: bytes = _bytes()
    # The entry exists: checked once per statement (ledger_event_checks.sql, UNKNOWN_ENTRY)
    # rather than by a foreign key row by row; entries are never deleted (migration ledger_1102).
    entry_id: uuid.UUID | None = _uuid()
    error_code: str | None = _varchar(64)
    error_message: str | None = _text(nullable=True)
    occurred_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    received_at: datetime | None = _created_at()

    __table_args__ = (
        CheckConstraint("status IN ('applied', 'rejected')", name="status"),
        CheckConstraint(
            "(status = 'applied' AND error_code IS NULL) OR "
            "(status = 'rejected' AND entry_id IS NULL AND error_code IS NOT NULL)",
            name="outcome",
        ),
        UniqueConstraint("entry_id", name="uq_ledger_event_entry_id"),
        # Written in arrival order: block ranges find the recent events for the metrics'
        # delivery lag (repository/audit.py `event_lag`) at next to no cost a row (ledger_1301).
        Index("ix_ledger_event_received_at_brin", "received_at", postgresql_using="brin"),
    )


class LedgerEventTally(LedgerTable, table=True):
    """Events recorded, by type and outcome: a row per INSERT into ledger_event, appended by
    its statement trigger (ledger_event_tally.sql), summed by `/v1/metrics`, and folded into
    one row a (type, status) now and then (repository/audit.py `fold_event_tally`)."""

    __tablename__ = "ledger_event_tally"
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True)
    )
    type: str = _varchar(40, nullable=False)
    status: str = _varchar(10, nullable=False)
    n: int = _fen()

    __table_args__ = (CheckConstraint("n > 0", name="n"),)


class IdempotencyRecord(LedgerTable, table=True):
    """The answer given to a keyed write, replayed for the same key and body."""

    __tablename__ = "idempotency_record"
    key: str = Field(sa_column=Column(Text, primary_key=True))
    operation: str = _varchar(40, nullable=False)
    request_hash: bytes = _bytes()
    status_code: int = Field(sa_column=Column(SmallInteger, nullable=False))
    response: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = _text()
    created_at: datetime | None = _created_at()


class Commitment(LedgerTable, table=True):
    """Budget committed before issuance (one per commitment entry)."""

    __tablename__ = "commitment"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    entry_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("entry.id", name="commitment_entry_id_fkey"),
            nullable=False,
        )
    )
    idempotency_key: str = _text()
    purpose: str = _varchar(20, nullable=False)
    program_code: str = _varchar(40, nullable=False)
    region_code: str = _varchar(12, nullable=False)
    budget_region_code: str = _varchar(12, nullable=False)
    period: str = _period()
    amount_fen: int = _fen()
    count: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = _created_at()

    __table_args__ = (
        CheckConstraint("purpose IN ('voucher', 'cash_benefit')", name="purpose"),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("count >= 0", name="count"),
        UniqueConstraint("entry_id", name="commitment_entry_id_key"),
        UniqueConstraint("idempotency_key", name="commitment_idempotency_key_key"),
    )


# Tables whose rows are never updated or deleted: the service's role gets SELECT and INSERT only
# (services.common.migrate.grant_app_privileges). Settlement's append-only tables included.
APPEND_ONLY_TABLES: list[str] = [
    "entry",
    "posting",
    "ledger_event",
    "idempotency_record",
    "commitment",
    "accounting_period",
    "root_anchor",
    "balance_snapshot",
    "claim_action",
    "payment_batch",
    "bank_confirmation",
    "copayment_method",
]
