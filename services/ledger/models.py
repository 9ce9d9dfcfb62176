"""Tables of the ledger service (its own database). Rules live in service/, SQL in repository/.

The tables are created by migration ledger_0002 (hand-written SQL, because most of what
matters is in triggers and constraints: see that migration and docs/ledger.md); these
classes mirror the columns so that autogenerate stays quiet and code can name them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, LargeBinary, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from services.common.db import make_registry

registry = make_registry()
metadata = registry.metadata


class LedgerTable(SQLModel, registry=registry):
    """Base of every table of this service (keeps them out of the other services' metadata)."""


class BookHead(LedgerTable, table=True):
    __tablename__ = "book_head"
    book: str = Field(primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    last_posted_at: datetime


class Account(LedgerTable, table=True):
    __tablename__ = "account"
    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    code: str = Field(max_length=4)
    name: str
    kind: str = Field(max_length=12)
    normal_sign: int = Field(sa_column=Column(SmallInteger, nullable=False))
    no_overdraft: bool = False
    program_code: str | None = None
    region_code: str | None = None
    funding_source: str | None = None
    provider_id: str | None = None
    beneficiary_id: str | None = None
    currency: str = "CNY"
    balance_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime | None = None


class AccountingPeriod(LedgerTable, table=True):
    __tablename__ = "accounting_period"
    period: str = Field(primary_key=True, max_length=7)
    closed_at: datetime | None = None
    closed_by: str


class Entry(LedgerTable, table=True):
    __tablename__ = "entry"
    id: uuid.UUID = Field(primary_key=True)
    book: str = "main"
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str
    posted_at: datetime
    period: str
    program_code: str | None = None
    region_code: str | None = None
    provider_id: str | None = None
    beneficiary_id: str | None = None
    voucher_id: str | None = None
    ref: str | None = None
    event_id: uuid.UUID | None = None
    idempotency_key: str
    reverses_entry_id: uuid.UUID | None = None
    memo: str | None = None
    created_by: str
    prev_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    txid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=False))


class Posting(LedgerTable, table=True):
    __tablename__ = "posting"
    entry_id: uuid.UUID = Field(primary_key=True)
    line: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    account_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = "CNY"
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    posted_at: datetime
    period: str
    program_code: str | None = None
    region_code: str | None = None
    funding_source: str | None = None
    provider_id: str | None = None
    beneficiary_id: str | None = None
    voucher_id: str | None = None


class LedgerEvent(LedgerTable, table=True):
    __tablename__ = "ledger_event"
    event_id: uuid.UUID = Field(primary_key=True)
    type: str
    status: str
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    entry_id: uuid.UUID | None = None
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime | None = None


class IdempotencyRecord(LedgerTable, table=True):
    __tablename__ = "idempotency_record"
    key: str = Field(primary_key=True)
    operation: str
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status_code: int = Field(sa_column=Column(SmallInteger, nullable=False))
    response: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str
    created_at: datetime | None = None


class Commitment(LedgerTable, table=True):
    __tablename__ = "commitment"
    id: uuid.UUID = Field(primary_key=True)
    entry_id: uuid.UUID
    idempotency_key: str
    purpose: str
    program_code: str
    region_code: str
    budget_region_code: str
    period: str
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    count: int
    created_at: datetime | None = None


# Tables whose rows are never updated or deleted: the service's role gets SELECT and INSERT only.
APPEND_ONLY_TABLES: list[str] = [
    "entry",
    "posting",
    "ledger_event",
    "idempotency_record",
    "commitment",
    "accounting_period",
    "claim_action",
    "payment_batch",
    "bank_confirmation",
    "copayment_method",
]

# Settlement tables (claims, batches) are declared in services/ledger/settlement/models.py.
from services.ledger.settlement import models as _settlement_models  # noqa: E402, F401
