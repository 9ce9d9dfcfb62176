"""Request and response bodies of the ledger service (amounts in integer fen)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.common.regions import is_valid_code_shape
from services.common.types import PERIOD_PATTERN

Fen = Annotated[int, Field(strict=True)]
PositiveFen = Annotated[int, Field(strict=True, gt=0, le=10**15)]
Period = Annotated[str, Field(pattern=PERIOD_PATTERN)]
ProgramCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
SourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=200)]
ExternalId = Annotated[str, Field(min_length=1, max_length=64)]


def _region(value: str) -> str:
    if not is_valid_code_shape(value):
        raise ValueError("must be a 6, 9 or 12 digit region code")
    return value


def _shares(value: dict[str, int]) -> dict[str, int]:
    if not value:
        raise ValueError("at least one funding source is needed")
    if any(v < 0 for v in value.values()) or sum(value.values()) != 10_000:
        raise ValueError("shares are non-negative basis points summing to 10000")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppropriationCreate(Strict):
    idempotency_key: IdempotencyKey
    program_code: ProgramCode
    region_code: str
    by_source: dict[SourceName, PositiveFen] = Field(min_length=1, max_length=10)
    # Why (a manual entry always says why): kept as the entry's memo, in the hash.
    memo: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

    _check_region = field_validator("region_code")(_region)


class CommitmentCreate(Strict):
    idempotency_key: IdempotencyKey
    purpose: Literal["voucher", "cash_benefit"]
    program_code: ProgramCode
    region_code: str
    period: Period
    amount_fen: PositiveFen
    count: Annotated[int, Field(strict=True, ge=1, le=10**9)]  # vouchers or benefits paid for
    funding_shares: dict[SourceName, Annotated[int, Field(strict=True, ge=0, le=10_000)]]

    _check_region = field_validator("region_code")(_region)
    _check_shares = field_validator("funding_shares")(_shares)


class ReversalCreate(Strict):
    idempotency_key: IdempotencyKey
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class PeriodClose(Strict):
    idempotency_key: IdempotencyKey


# --- events (the outbox contract in docs/architecture.md) -----------------------------------


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: uuid.UUID
    type: str = Field(min_length=1, max_length=40)
    occurred_at: datetime
    payload: dict[str, Any]


class EventBatch(Strict):
    events: list[EventIn] = Field(min_length=1, max_length=5000)


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")
    program_code: ProgramCode
    region_code: str
    budget_region_code: str
    period: Period
    funding_shares: dict[SourceName, Annotated[int, Field(strict=True, ge=0, le=10_000)]]

    _check_regions = field_validator("region_code", "budget_region_code")(_region)
    _check_shares = field_validator("funding_shares")(_shares)


class RedemptionCreated(_Common):
    redemption_id: ExternalId
    voucher_id: ExternalId
    beneficiary_id: ExternalId
    provider_id: ExternalId
    service_code: str | None = None
    gross_fen: Annotated[int, Field(strict=True, ge=0)]
    subsidy_fen: PositiveFen
    copay_fen: Annotated[int, Field(strict=True, ge=0)]
    # who made it (issue 21): the terminal and the staff member signed in on it
    terminal_id: Annotated[str, Field(max_length=64)] | None = None
    staff_id: Annotated[str, Field(max_length=64)] | None = None


class RedemptionVoided(_Common):
    redemption_id: ExternalId
    voucher_id: ExternalId
    beneficiary_id: ExternalId
    provider_id: ExternalId
    subsidy_fen: PositiveFen
    reason: str | None = None
    voided_by: Annotated[str, Field(max_length=200)] | None = None  # the credential that voided it


class RedemptionRecovered(_Common):
    """A wrongly paid redemption taken back (docs/ledger.md, "Recoveries")."""

    recovery_id: ExternalId
    redemption_id: ExternalId
    voucher_id: ExternalId
    beneficiary_id: ExternalId
    provider_id: ExternalId
    subsidy_fen: PositiveFen
    mode: Literal["payable", "receivable"]
    destination: Literal["voucher", "budget"]
    alert_id: ExternalId | None = None
    reason: str | None = None


class VoucherExpired(_Common):
    voucher_id: ExternalId
    beneficiary_id: ExternalId
    released_fen: PositiveFen


class CashBenefitIssued(_Common):
    benefit_id: ExternalId
    beneficiary_id: ExternalId
    amount_fen: PositiveFen


class CopayMoved(_Common):
    """A co-payment received or refunded (settlement, docs/settlement.md). Only `stripe` is
    posted; `cash` (sent by a voucher service before cash left the books) is refused with
    CASH_COPAY_NOT_POSTED."""

    copayment_id: ExternalId
    redemption_id: ExternalId
    voucher_id: ExternalId
    beneficiary_id: ExternalId
    provider_id: ExternalId
    method: Annotated[str, Field(pattern="^(stripe|cash)$")]
    amount_fen: PositiveFen


EVENT_PAYLOADS: dict[str, type[_Common]] = {
    "redemption.created": RedemptionCreated,
    "redemption.voided": RedemptionVoided,
    "redemption.recovered": RedemptionRecovered,
    "voucher.expired": VoucherExpired,
    "cash_benefit.issued": CashBenefitIssued,
    "copay.received": CopayMoved,
    "copay.refunded": CopayMoved,
}


# --- answers (the JSON each route returns; times ISO 8601 strings, ids strings) -------------


class AppropriationRead(BaseModel):
    entry_id: str
    seq: int
    program_code: str
    region_code: str
    by_source: dict[str, int]
    available_fen: int
    available_by_source: dict[str, int]


class CommitmentRead(BaseModel):
    commitment_id: str
    entry_id: str
    amount_fen: int
    budget_region_code: str


class ReversalRead(BaseModel):
    entry_id: str
    seq: int
    reverses_entry_id: str


class PeriodCloseRead(BaseModel):
    period: str
    status: Literal["closed"]
    closed_at: str
    closed_by: str


class BudgetRead(BaseModel):
    """Available now, by funding source; and how the budget has been used so far:
    appropriated, committed to vouchers and cash benefits, spent (redeemed net of voids, and
    cash benefits), released back by expiries."""

    budget_region_code: str | None
    available_fen: int
    by_source: dict[str, int]
    appropriated_fen: int = 0
    committed_fen: int = 0
    spent_fen: int = 0
    released_fen: int = 0


class BudgetExecutionLine(BaseModel):
    """One program's budget from one funding source in a region subtree (fen): appropriated,
    committed to vouchers and cash benefits, spent (redeemed net of voids, and cash
    benefits), released back by expiries, and available now."""

    program_code: str
    funding_source: str
    appropriated_fen: int
    committed_fen: int
    spent_fen: int
    released_fen: int
    available_fen: int


class BudgetExecutionRead(BaseModel):
    region_prefix: str  # the subtree: budget regions whose code starts with it
    lines: list[BudgetExecutionLine]


class EventError(BaseModel):
    code: str
    message: str


class EventApplied(BaseModel):
    """Applied now, or before (`duplicate`): the entry it posted."""

    event_id: uuid.UUID
    status: Literal["applied", "duplicate"]
    entry_id: uuid.UUID


class EventRefused(BaseModel):
    """Not applied, and never will be: the same answer on every retry."""

    event_id: uuid.UUID
    status: Literal["rejected"]
    error: EventError


EventResult = EventApplied | EventRefused


class EventResults(BaseModel):
    results: list[EventResult]


class TrialBalanceAccount(BaseModel):
    account_id: str
    code: str
    name: str
    kind: str
    program_code: str | None
    region_code: str | None
    funding_source: str | None
    provider_id: str | None
    beneficiary_id: str | None
    currency: str
    debit_fen: int
    credit_fen: int
    balance_fen: int


class TrialBalanceRead(BaseModel):
    as_of: str
    accounts: list[TrialBalanceAccount]
    total_debit_fen: int
    total_credit_fen: int
    balanced: bool


class PostingRead(BaseModel):
    """A posting line: every column the hash covers (docs/ledger.md, "The canonical form"),
    plus the account's chart code and name (not hashed)."""

    entry_id: str
    line: int
    account_id: str
    account: str
    account_name: str
    amount_fen: int
    currency: str
    seq: int
    posted_at: str
    period: str
    program_code: str | None
    region_code: str | None
    funding_source: str | None
    provider_id: str | None
    beneficiary_id: str | None
    voucher_id: str | None


class EntryRead(BaseModel):
    """A journal entry: every column the hash covers (docs/ledger.md, "The canonical form"),
    its `prev_hash` and `hash` (hex), and its postings in line order."""

    id: str
    book: str
    seq: int
    kind: str
    posted_at: str
    period: str
    program_code: str | None
    region_code: str | None
    provider_id: str | None
    beneficiary_id: str | None
    voucher_id: str | None
    ref: str | None
    event_id: str | None
    idempotency_key: str
    reverses_entry_id: str | None
    memo: str | None
    created_by: str
    # Hashed when present (never null in the hash: absent there); the export shows null.
    details: dict[str, Any] | None = None
    prev_hash: str
    hash: str
    postings: list[PostingRead]


class EntryPage(BaseModel):
    as_of: str
    entries: list[EntryRead]
    next_cursor: str | None


class StatementLine(BaseModel):
    seq: int
    entry_id: str
    line: int
    kind: str
    ref: str | None
    memo: str | None
    posted_at: str
    amount_fen: int
    balance_fen: int
    provider_id: str | None
    beneficiary_id: str | None
    voucher_id: str | None


class StatementRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    account_id: str
    code: str
    name: str
    region_code: str | None
    program_code: str | None
    funding_source: str | None
    provider_id: str | None
    beneficiary_id: str | None
    normal_sign: int
    from_: str | None = Field(alias="from")
    to: str | None
    as_of: str
    opening_balance_fen: int
    closing_balance_fen: int
    lines: list[StatementLine]


class BadEntry(BaseModel):
    id: str
    seq: int
    reason: str
    book: str | None = None


class ChainVerifyRead(BaseModel):
    """`ok` with the entries checked and the head's hash; when not ok, the first bad entry, or
    (`first_bad_entry` null) the `reason` and, for balances, the `accounts`. Only the fields
    that apply are sent."""

    ok: bool
    entries_checked: int
    head_hash: str
    first_bad_entry: BadEntry | None = None
    reason: str | None = None
    accounts: list[str] | None = None
    # Books: the book checked (`?book=`), or the number of books and root anchors checked.
    book: str | None = None
    books: int | None = None
    anchors_checked: int | None = None


class AnchorHead(BaseModel):
    book: str
    seq: int
    hash: str


class BookRead(BaseModel):
    """A book of the journal and its head: `entries` is its last seq (a book's seqs are
    gapless from 1), so a verification of every book can show how far it has come."""

    book: str
    entries: int
    head_hash: str
    last_posted_at: str


class AnchorRead(BaseModel):
    """One anchor of the root chain: every book's head at `anchored_at`, chained
    (docs/ledger.md, "Books and the root chain")."""

    seq: int
    anchored_at: str
    heads: list[AnchorHead]
    prev_hash: str
    hash: str


class CheckpointRecord(BaseModel):
    """One line of the checkpoint file, exactly as signed (fields that do not apply are
    absent, never null): a `checkpoint` of the head, or a `key_rotation` hand-over signed by
    the old key naming `new_key`. `signature` covers the record without itself. A checkpoint
    of book `root` signs an anchor of the root chain and carries the book `heads` it
    anchors."""

    type: Literal["checkpoint", "key_rotation"]
    book: str | None = None
    seq: int | None = None
    hash: str | None = None
    head_posted_at: str | None = None
    heads: list[AnchorHead] | None = None
    reason: str | None = None
    new_key: str | None = None
    signed_at: str
    key: str
    signature: str


class CheckpointsRead(BaseModel):
    public_key: str
    fingerprint: str
    checkpoints: list[CheckpointRecord]


class PublicKeyRead(BaseModel):
    algorithm: Literal["Ed25519"]
    public_key: str
    public_key_pem: str
    fingerprint: str


class EventCountRead(BaseModel):
    type: str
    status: str
    count: int


class MetricsRead(BaseModel):
    entries: int
    last_posted_at: str | None
    events: list[EventCountRead]
    last_event_occurred_at: str | None
    last_event_received_at: str | None
    recent_delivery_lag_s: float | None
    process: dict[str, int]
