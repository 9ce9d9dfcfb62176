"""Tables of the voucher service (its own database): the one definition of each table.

Every column, key, index and CHECK the migrations build is declared here, with the names the
database carries (tests/common/test_models_match_migrations.py compares the two). Rules live in
service/, SQL in repository/. What the database runs for us (triggers, functions) is in
migrations/sql/ and named here in comments where it matters.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy import Boolean as sa_Boolean
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from services.common.db import make_registry

registry = make_registry()
metadata = registry.metadata


class VoucherTable(SQLModel, registry=registry):
    """Base of every table of this service (keeps them out of the other services' metadata)."""


def _uuid_pk() -> Any:
    return Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))


def _now() -> Any:
    return Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class Program(VoucherTable, table=True):
    """A subsidy program's current configuration (its history is in program_version)."""

    __tablename__ = "program"
    code: str = Field(sa_column=Column(String(40), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    # voucher: a balance spent over the period; per_use: a fixed subsidy per use;
    # cash_benefit: paid to the person, never redeemed.
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    config: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    updated_at: datetime = _now()
    updated_by: str = Field(sa_column=Column(Text, nullable=False))
    # Whose programme it is: NULL = the province's (the defaults); a city's or county's own
    # programme applies only there and only its officers (and the province's) change it.
    region_code: str | None = Field(default=None, sa_column=Column(String(12)))

    __table_args__ = (
        CheckConstraint("kind IN ('voucher', 'per_use', 'cash_benefit', 'one_off')", name="kind"),
    )


class ProgramVersion(VoucherTable, table=True):
    """Every configuration a program ever had: who changed what, when and why."""

    __tablename__ = "program_version"
    program_code: str = Field(
        sa_column=Column(String(40), ForeignKey("program.code"), primary_key=True)
    )
    version: int = Field(sa_column=Column(Integer, primary_key=True))
    config: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    changed_by: str = Field(sa_column=Column(Text, nullable=False))
    changed_at: datetime = _now()
    reason: str = Field(sa_column=Column(Text, nullable=False))
    # The first period this version governs (YYYY-MM); NULL = from when it was written. A run
    # for a period uses the newest version in force then (services/voucher/service/programs.py
    # `for_period`); vouchers keep the version they were issued under.
    effective_from: str | None = Field(default=None, sa_column=Column(String(7)))


class Beneficiary(VoucherTable, table=True):
    """An elderly person. National ID and phone are stored only encrypted (+ keyed hash)."""

    __tablename__ = "beneficiary"
    id: uuid.UUID = _uuid_pk()
    national_id_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    national_id_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    phone_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    phone_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, index=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    birth_on: date = Field(sa_column=Column(Date, nullable=False))
    sex: str = Field(sa_column=Column(String(1), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    address: str = Field(sa_column=Column(Text, nullable=False))
    lat: float | None = None
    lon: float | None = None
    care_setting: str = Field(sa_column=Column(String(20), nullable=False))
    dibao: bool = False
    grade: int | None = Field(default=None, sa_column=Column(SmallInteger))
    # The day the assessment behind `grade` stops being valid (issuance checks it).
    grade_valid_until: date | None = Field(default=None, sa_column=Column(Date))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="active"))
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    status_changed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    # Payout bank account for cash benefits (bank, holder, number): one encrypted blob.
    payout_account_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    payout_account_set_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    payout_account_set_by: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = (
        CheckConstraint(
            "(payout_account_enc IS NULL) = (payout_account_set_at IS NULL) AND "
            "(payout_account_enc IS NULL) = (payout_account_set_by IS NULL)",
            name="payout_account_complete",
        ),
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
        CheckConstraint(
            "care_setting IN ('home', 'community', 'institution')", name="care_setting"
        ),
        CheckConstraint("status IN ('active', 'suspended', 'deceased', 'moved')", name="status"),
        CheckConstraint("grade BETWEEN 0 AND 4", name="grade"),
    )


class Assessment(VoucherTable, table=True):
    """An ability assessment under GB/T 42195-2022; the newest valid one sets the grade."""

    __tablename__ = "assessment"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), nullable=False, index=True
        )
    )
    self_care: int = Field(sa_column=Column(SmallInteger, nullable=False))
    motor: int = Field(sa_column=Column(SmallInteger, nullable=False))
    mental: int = Field(sa_column=Column(SmallInteger, nullable=False))
    perception_social: int = Field(sa_column=Column(SmallInteger, nullable=False))
    flags: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False, server_default="{}"))
    total: int = Field(sa_column=Column(SmallInteger, nullable=False))
    grade: int = Field(sa_column=Column(SmallInteger, nullable=False))
    assessed_on: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: date = Field(sa_column=Column(Date, nullable=False))
    assessor: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))

    __table_args__ = (
        CheckConstraint("self_care BETWEEN 0 AND 32", name="self_care"),
        CheckConstraint("motor BETWEEN 0 AND 15", name="motor"),
        CheckConstraint("mental BETWEEN 0 AND 28", name="mental"),
        CheckConstraint("perception_social BETWEEN 0 AND 15", name="perception_social"),
        CheckConstraint("grade BETWEEN 0 AND 4", name="grade"),
    )


class ProxyAuthorisation(VoucherTable, table=True):
    """A family member or agent (家属/代办人) allowed to act for a beneficiary."""

    __tablename__ = "proxy_authorisation"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), nullable=False, index=True
        )
    )
    proxy_sub: str = Field(sa_column=Column(Text, nullable=False, index=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    relation: str = Field(sa_column=Column(Text, nullable=False))
    phone_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="active"))
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    __table_args__ = (CheckConstraint("status IN ('active', 'revoked')", name="status"),)


class Voucher(VoucherTable, table=True):
    """One per beneficiary, program and period (the database refuses a second).

    The rules of the program version it was issued under are copied onto the row (ratio,
    per-use amount, caps), so the redemption statement needs nothing but this row; the
    per-day counters live here too, so the one UPDATE that locks the row also enforces the
    daily limits. `balance_fen` can never leave 0..face_fen (CHECK).
    """

    __tablename__ = "voucher"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("beneficiary.id"), nullable=False)
    )
    program_code: str = Field(sa_column=Column(String(40), nullable=False))
    program_version: int = Field(sa_column=Column(Integer, nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False))
    face_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    valid_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="active"))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    budget_region_code: str = Field(sa_column=Column(String(12), nullable=False))
    care_setting: str = Field(sa_column=Column(String(20), nullable=False))
    # Rules snapshot (basis points / fen). NULL means "no such limit".
    ratio_bp: int | None = Field(default=None, sa_column=Column(Integer))
    per_use_fen: int | None = Field(default=None, sa_column=Column(BigInteger))
    per_txn_cap_fen: int | None = Field(default=None, sa_column=Column(BigInteger))
    day_cap_fen: int | None = Field(default=None, sa_column=Column(BigInteger))
    day_limit_count: int | None = Field(default=None, sa_column=Column(Integer))
    # Usage today (Asia/Shanghai): reset by the redemption statement when the day changes.
    day_on: date | None = Field(default=None, sa_column=Column(Date))
    day_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    day_subsidy_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    funding_shares: dict[str, int] = Field(sa_column=Column(JSONB, nullable=False))
    # Where it may be spent (copied from the program): provider kinds and service categories.
    # When several vouchers could pay, the lowest priority number is used first.
    allowed_kinds: list[str] = Field(sa_column=Column(ARRAY(String(30)), nullable=False))
    allowed_categories: list[str] = Field(sa_column=Column(ARRAY(String(40)), nullable=False))
    priority: int = Field(
        default=100, sa_column=Column(SmallInteger, nullable=False, server_default="100")
    )
    # Where it may be spent: a provider's region must start with this GB/T 2260 prefix
    # (the person's province, city or county by the program's `spend_scope`, fixed at
    # issuance). A row inserted without it gets its budget region's city (trigger).
    spend_region_prefix: str = Field(sa_column=Column(String(6), nullable=False))
    # A one-off programme's voucher: at most one per person and programme, whatever the
    # period (uq_voucher_once, a partial unique index).
    once: bool = Field(
        default=False, sa_column=Column(sa_Boolean, nullable=False, server_default="false")
    )
    issuance_run_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    # Set when the voucher lapsed: the unused balance handed back to the budget.
    released_fen: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        UniqueConstraint(
            "beneficiary_id",
            "program_code",
            "period",
            name="uq_voucher_one_per_beneficiary_program_period",
        ),
        CheckConstraint("balance_fen >= 0 AND balance_fen <= face_fen", name="balance_range"),
        CheckConstraint("face_fen > 0", name="face_positive"),
        CheckConstraint(
            "status IN ('active', 'exhausted', 'suspended', 'expired', 'revoked')", name="status"
        ),
        CheckConstraint("period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'", name="period_format"),
        CheckConstraint("ratio_bp IS NULL OR ratio_bp BETWEEN 0 AND 10000", name="ratio"),
        CheckConstraint(
            "released_fen IS NULL OR (released_fen >= 0 AND status = 'expired')",
            name="released_only_when_expired",
        ),
        CheckConstraint(
            "spend_region_prefix ~ '^[0-9]{2}([0-9]{2}){0,2}$'", name="spend_region_prefix_shape"
        ),
        Index("ix_voucher_beneficiary_status", "beneficiary_id", "status"),
        Index("ix_voucher_period_program", "period", "program_code"),
        Index(
            "uq_voucher_once",
            "beneficiary_id",
            "program_code",
            unique=True,
            postgresql_where=text("once"),
        ),
    )


class Outbox(VoucherTable, table=True):
    """Events for the ledger, written in the same transaction as the change they describe.

    The relay delivers undelivered rows in id order and then sets `delivered_at`; the ledger
    applies each `event_id` once, so a redelivery after a crash changes nothing.
    """

    __tablename__ = "outbox"
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True)
    )
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(60), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    occurred_at: datetime = _now()
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # 'rejected' when the ledger refused it for good (visible as lag, never retried blindly).
    rejected: bool = Field(
        default=False, sa_column=Column(sa_Boolean(), nullable=False, server_default="false")
    )

    __table_args__ = (
        Index("ix_outbox_undelivered", "id", postgresql_where="delivered_at IS NULL"),
    )


class UsedNonce(VoucherTable, table=True):
    """A QR nonce already accepted: the primary key makes a replay fail, even under a race.

    Rows past `expires_at` are purged (the token itself is refused as expired by then).
    """

    __tablename__ = "used_nonce"
    nonce: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    used_at: datetime = _now()

    __table_args__ = (CheckConstraint("octet_length(nonce) = 8", name="length"),)


class Card(VoucherTable, table=True):
    """A printed card (static signed code) for people without a phone; needs a PIN.

    The PIN is kept only as a scrypt hash; five failed attempts lock the card.
    """

    __tablename__ = "card"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("beneficiary.id", name="card_beneficiary_id_fkey"),
            nullable=False,
        )
    )
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    pin_salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    pin_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    failed_attempts: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="active"))
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    locked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    replaced_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    __table_args__ = (
        CheckConstraint("status IN ('active', 'locked', 'replaced')", name="status"),
        CheckConstraint("failed_attempts BETWEEN 0 AND 5", name="failed_attempts"),
        Index(
            "uq_card_one_current",
            "beneficiary_id",
            unique=True,
            postgresql_where="status <> 'replaced'",
        ),
    )


class Redemption(VoucherTable, table=True):
    """A voucher spent at a provider. Written by one statement with the balance change and
    the outbox event (repository/redemption.py); unique per provider and idempotency key.
    Its amounts never change (trigger `redemption_guard`); a void or a claim is set once.
    """

    __tablename__ = "redemption"
    id: uuid.UUID = _uuid_pk()
    voucher_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("voucher.id", name="redemption_voucher_id_fkey"),
            nullable=False,
        )
    )
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("beneficiary.id", name="redemption_beneficiary_id_fkey"),
            nullable=False,
        )
    )
    provider_id: str = Field(sa_column=Column(Text, nullable=False))
    terminal_id: str | None = Field(default=None, sa_column=Column(Text))
    service_code: str = Field(sa_column=Column(Text, nullable=False))
    category: str = Field(sa_column=Column(Text, nullable=False))
    gross_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    subsidy_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    copay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    idempotency_key: str = Field(sa_column=Column(Text, nullable=False))
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    card_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(UUID(as_uuid=True), ForeignKey("card.id", name="redemption_card_id_fkey")),
    )
    day_on: date = Field(sa_column=Column(Date, nullable=False))
    created_at: datetime = _now()
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="completed"))
    voided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    voided_by: str | None = Field(default=None, sa_column=Column(Text))
    void_reason: str | None = Field(default=None, sa_column=Column(Text))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    claim_id: str | None = Field(default=None, sa_column=Column(Text))
    # The directory version of the price list the bill was priced from (its lines are in
    # redemption_item); NULL for redemptions made before bills were priced.
    price_list_version: int | None = Field(default=None, sa_column=Column(BigInteger))

    __table_args__ = (
        UniqueConstraint("provider_id", "idempotency_key"),
        CheckConstraint(
            "gross_fen > 0 AND subsidy_fen > 0 AND copay_fen >= 0 "
            "AND subsidy_fen + copay_fen = gross_fen AND balance_after_fen >= 0",
            name="amounts",
        ),
        CheckConstraint("status IN ('completed', 'voided')", name="status"),
        CheckConstraint(
            "(status = 'voided') = (voided_at IS NOT NULL AND void_reason IS NOT NULL)",
            name="void_fields",
        ),
        CheckConstraint("NOT (status = 'voided' AND claimed_at IS NOT NULL)", name="void_or_claim"),
        Index("ix_redemption_provider_day", "provider_id", "day_on"),
        Index("ix_redemption_beneficiary_created", "beneficiary_id", "created_at"),
        Index("ix_redemption_voucher", "voucher_id"),
    )


class RedemptionItem(VoucherTable, table=True):
    """A line of a redemption's bill, priced from the provider's price list: written by the
    redemption statement with the redemption; never changed (append-only)."""

    __tablename__ = "redemption_item"
    redemption_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("redemption.id", name="redemption_item_redemption_id_fkey"),
            primary_key=True,
        )
    )
    line: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    service_code: str = Field(sa_column=Column(Text, nullable=False))
    category: str = Field(sa_column=Column(Text, nullable=False))
    quantity: int = Field(sa_column=Column(SmallInteger, nullable=False))
    unit_price_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))

    __table_args__ = (
        CheckConstraint(
            "line >= 1 AND quantity >= 1 AND unit_price_fen > 0 "
            "AND amount_fen = unit_price_fen * quantity",
            name="amounts",
        ),
    )


class IssuanceRun(VoucherTable, table=True):
    """One issuance of a program for a period in a region, with its progress."""

    __tablename__ = "issuance_run"
    id: uuid.UUID = _uuid_pk()
    program_code: str = Field(sa_column=Column(String(40), nullable=False))
    program_version: int = Field(sa_column=Column(Integer, nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    # run: an officer's run; enrolment: the current month for newly enrolled people;
    # schedule: the scheduler's run of the month (scheduled_issuance).
    trigger: str = Field(sa_column=Column(String(20), nullable=False, server_default="run"))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="running"))
    eligible: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    issued: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    skipped: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    failed: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    chunks_done: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    message: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now()
    updated_at: datetime = _now()
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'completed', 'budget_exhausted', 'interrupted')", name="status"
        ),
        CheckConstraint("trigger IN ('run', 'enrolment', 'schedule')", name="trigger"),
        CheckConstraint("issued >= 0 AND skipped >= 0 AND failed >= 0", name="counters"),
        Index("ix_issuance_run_program_period", "program_code", "period"),
    )


class IssuanceChunk(VoucherTable, table=True):
    """A chunk's intent, written before the ledger is asked to commit its budget.

    intent: the ledger may or may not have committed (ask again with the same key);
    committed: the ledger answered, the vouchers are not written yet; done: written;
    refused: the ledger refused (budget exhausted), nothing was committed.
    """

    __tablename__ = "issuance_chunk"
    id: uuid.UUID = _uuid_pk()
    run_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("issuance_run.id"), nullable=False, index=True
        )
    )
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    program_code: str = Field(sa_column=Column(String(40), nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    idempotency_key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    beneficiary_ids: list[uuid.UUID] = Field(
        sa_column=Column(ARRAY(UUID(as_uuid=True)), nullable=False)
    )
    amounts_fen: list[int] = Field(sa_column=Column(ARRAY(BigInteger), nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="intent"))
    commitment_id: str | None = Field(default=None, sa_column=Column(Text))
    budget_region_code: str | None = Field(default=None, sa_column=Column(String(12)))
    # The shares sent to the ledger, so a resumed chunk asks with exactly the same body.
    funding_shares: dict[str, int] | None = Field(default=None, sa_column=Column(JSONB))
    created_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_issuance_chunk_run_seq"),
        CheckConstraint("status IN ('intent', 'committed', 'done', 'refused')", name="status"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "cardinality(beneficiary_ids) = cardinality(amounts_fen)", name="amounts_match"
        ),
        Index(
            "ix_issuance_chunk_open",
            "program_code",
            "period",
            postgresql_where="status IN ('intent', 'committed')",
        ),
    )


class IssuanceLock(VoucherTable, table=True):
    """Who is issuing a program's period now: a lease, not a session lock.

    One row per program and period while a run holds it (regions nest, so two runs of one
    program and period could otherwise pick the same people). A run takes it with one INSERT
    ... ON CONFLICT that succeeds only when the row is absent or its lease has lapsed, renews it
    before each chunk (the renewal is the fence: a run that lost its lease stops), and deletes
    it when done. A run whose process died leaves a lease that lapses after
    `YIYANG_VOUCHER_ISSUANCE_LEASE_S`. Works through a transaction-mode connection pooler,
    which a session-level advisory lock does not.
    """

    __tablename__ = "issuance_lock"
    program_code: str = Field(sa_column=Column(String(40), primary_key=True))
    period: str = Field(sa_column=Column(String(7), primary_key=True))
    run_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    acquired_at: datetime = _now()


class ScheduledIssuance(VoucherTable, table=True):
    """The scheduler's issuance of one program, period and region: at most one row each.

    due: waiting to be claimed; running: claimed by `claimed_by` until `lease_until` (a
    scheduler that died leaves a lapsed lease, and the next claim resumes the run); completed /
    budget_exhausted: the run ended (its counts are on issuance_run `run_id`); failed: the last
    attempt failed (`last_error`), tried again from `next_attempt_at`.
    """

    __tablename__ = "scheduled_issuance"
    id: uuid.UUID = _uuid_pk()
    program_code: str = Field(sa_column=Column(String(40), nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="due"))
    run_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    claimed_by: str | None = Field(default=None, sa_column=Column(Text))
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _now()
    updated_at: datetime = _now()
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    __table_args__ = (
        UniqueConstraint(
            "program_code", "period", "region_code", name="uq_scheduled_issuance_slot"
        ),
        CheckConstraint(
            "status IN ('due', 'running', 'completed', 'budget_exhausted', 'failed')",
            name="status",
        ),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_scheduled_issuance_period", "period"),
    )


class CashBenefit(VoucherTable, table=True):
    """A cash benefit (护理补贴) paid to the person: one per beneficiary, program and period."""

    __tablename__ = "cash_benefit"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), nullable=False, index=True
        )
    )
    program_code: str = Field(sa_column=Column(String(40), nullable=False))
    program_version: int = Field(sa_column=Column(Integer, nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    budget_region_code: str = Field(sa_column=Column(String(12), nullable=False))
    funding_shares: dict[str, int] = Field(sa_column=Column(JSONB, nullable=False))
    issuance_run_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    created_at: datetime = _now()

    __table_args__ = (
        UniqueConstraint(
            "beneficiary_id",
            "program_code",
            "period",
            name="uq_cash_benefit_one_per_beneficiary_program_period",
        ),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'", name="period_format"),
    )


class RequestKey(VoucherTable, table=True):
    """Idempotency keys of officers' writes (enrolment, issuance runs): the key, a keyed hash
    of the request (it may hold a national ID) and the resource it created."""

    __tablename__ = "request_key"
    key: str = Field(sa_column=Column(Text, primary_key=True))
    operation: str = Field(sa_column=Column(String(40), nullable=False))
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    resource_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now()


class Copayment(VoucherTable, table=True):
    """The part of a bill the voucher does not cover: one per redemption, paid online
    (Stripe, under our own stored idempotency key) or in cash at the counter.

    refunded + promised refunds (`refund_pending_fen`) never exceed what was captured, and
    nothing is captured beyond the amount (CHECK `amounts`). See service/copay.py.
    """

    __tablename__ = "copayment"
    id: uuid.UUID = _uuid_pk()
    redemption_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("redemption.id", name="copayment_redemption_id_fkey"),
            nullable=False,
            unique=True,
        )
    )
    provider_id: str = Field(sa_column=Column(Text, nullable=False))
    method: str = Field(sa_column=Column(Text, nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    captured_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    refunded_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    status: str = Field(sa_column=Column(Text, nullable=False))
    stripe_idempotency_key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    stripe_payment_intent_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now()
    updated_at: datetime = _now()
    # Refunds promised (a copay_refund row pending) and not yet confirmed by Stripe.
    refund_pending_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    # When the PaymentIntent was last re-read from Stripe (the fallback for a lost webhook).
    synced_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    __table_args__ = (
        CheckConstraint(
            "amount_fen > 0 AND captured_fen >= 0 AND captured_fen <= amount_fen "
            "AND refunded_fen >= 0 AND refund_pending_fen >= 0 "
            "AND refunded_fen + refund_pending_fen <= captured_fen",
            name="amounts",
        ),
        CheckConstraint("method IN ('stripe', 'cash')", name="method"),
        CheckConstraint("status IN ('open', 'succeeded', 'refunded')", name="status"),
        Index("ix_copayment_open", "created_at", postgresql_where="status = 'open'"),
    )


class CopayRefund(VoucherTable, table=True):
    """A refund of a co-payment, written in the transaction of its cause (a void, a
    provider's request, a payment captured after its redemption was voided) and sent to
    Stripe after commit until Stripe confirms it (service/copay_refund.py)."""

    __tablename__ = "copay_refund"
    idempotency_key: str = Field(sa_column=Column(Text, primary_key=True))
    copayment_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("copayment.id", name="copay_refund_copayment_id_fkey"),
            nullable=False,
            index=True,
        )
    )
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _now()
    status: str = Field(
        default="succeeded", sa_column=Column(Text, nullable=False, server_default="succeeded")
    )
    reason: str = Field(
        default="request", sa_column=Column(Text, nullable=False, server_default="request")
    )
    stripe_refund_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime = _now()
    # One worker at a time sends it to Stripe; the lease outlives a crash.
    leased_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    completed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    __table_args__ = (
        CheckConstraint("amount_fen >= 0", name="amount"),
        CheckConstraint("reason IN ('request', 'void', 'late_capture')", name="reason"),
        CheckConstraint("status IN ('pending', 'succeeded')", name="status"),
        Index("ix_copay_refund_pending", "next_attempt_at", postgresql_where="status = 'pending'"),
    )


class StripeWebhookEvent(VoucherTable, table=True):
    """A Stripe event id already applied: a redelivered webhook changes nothing."""

    __tablename__ = "stripe_webhook_event"
    id: str = Field(sa_column=Column(Text, primary_key=True))
    type: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = _now()


# Tables whose rows are never updated or deleted: the service's role gets SELECT and INSERT only.
APPEND_ONLY_TABLES: list[str] = [
    "program_version",
    "cash_benefit",
    "request_key",
    "redemption_item",
]
