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
    Computed,
    Date,
    DateTime,
    Float,
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
        CheckConstraint(
            "kind IN ('voucher', 'per_use', 'cash_benefit', 'one_off', 'service_package')",
            name="kind",
        ),
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
    # The last four characters of the national ID and of the phone, in clear: what the masked
    # forms show anyway, kept so the roster can search them (the rest stays encrypted).
    national_id_last4: str | None = Field(default=None, sa_column=Column(String(4), index=True))
    phone_last4: str | None = Field(default=None, sa_column=Column(String(4), index=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    birth_on: date = Field(sa_column=Column(Date, nullable=False))
    sex: str = Field(sa_column=Column(String(1), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    address: str = Field(sa_column=Column(Text, nullable=False))
    lat: float | None = None
    lon: float | None = None
    # True when lat/lon were set from the community's centre, not the home itself: a care
    # worker's check-in then skips the radius check (and the visit records that).
    location_approximate: bool = Field(
        default=False, sa_column=Column(sa_Boolean(), nullable=False, server_default="false")
    )
    care_setting: str = Field(sa_column=Column(String(20), nullable=False))
    dibao: bool = False
    # 特困 (extreme poverty support), an eligibility attribute like 低保.
    tekun: bool = Field(
        default=False, sa_column=Column(sa_Boolean(), nullable=False, server_default="false")
    )
    # 户籍: the household registration's GB/T 2260 code (NULL: not recorded); `hukou` is
    # local when it lies in the city of `region_code` (service/eligibility.py hukou_local).
    hukou_region_code: str | None = Field(default=None, sa_column=Column(String(12)))
    grade: int | None = Field(default=None, sa_column=Column(SmallInteger))
    # The day the assessment behind `grade` stops being valid (issuance checks it).
    grade_valid_until: date | None = Field(default=None, sa_column=Column(Date))
    # A reassessment takes effect from the next period (service/assessment.py `in_force`):
    # `grade` is the newest assessment's grade, in force from the period starting `grade_from`
    # (NULL = at once, as at enrolment); before that day `prior_grade` and
    # `prior_grade_valid_until` (the assessment it replaced) still govern issuance.
    grade_from: date | None = Field(default=None, sa_column=Column(Date))
    prior_grade: int | None = Field(default=None, sa_column=Column(SmallInteger))
    prior_grade_valid_until: date | None = Field(default=None, sa_column=Column(Date))
    # An emergency contact (name, relation, phone): personal data, one encrypted blob.
    contact_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="active"))
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    status_changed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    # A hospital stay (the newest one recorded): vouchers are paused from..until (inclusive,
    # Asia/Shanghai days; until NULL = open). The same window is copied onto every voucher of
    # the person, which is what the redemption statement reads (docs/lifecycle.md).
    paused_from: date | None = Field(default=None, sa_column=Column(Date))
    paused_until: date | None = Field(default=None, sa_column=Column(Date))
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
        CheckConstraint(
            "status IN ('active', 'suspended', 'deceased', 'moved', 'exited')", name="status"
        ),
        CheckConstraint("grade BETWEEN 0 AND 4", name="grade"),
        CheckConstraint("prior_grade BETWEEN 0 AND 4", name="prior_grade"),
        CheckConstraint(
            "paused_until IS NULL OR (paused_from IS NOT NULL AND paused_until >= paused_from)",
            name="paused_window",
        ),
        # The roster's order and keyset (service/roster.py): a page is an index range.
        Index("ix_beneficiary_name_id", "name", "id"),
        Index("ix_beneficiary_created_at_id", "created_at", "id"),
    )


STATUS_CHANGE_KINDS = ("active", "suspended", "hospitalised", "moved", "deceased", "exited")


class BeneficiaryStatusChange(VoucherTable, table=True):
    """The timeline of a person's status: every change, who made it, when, why, on what
    evidence and from which day it takes effect (possibly in the past). Append-only.

    `status` is the event: `hospitalised` carries the stay (`effective_on`..`until`,
    inclusive), `moved` the new region (`to_region_code`; NULL = left the province),
    `deceased` the date of death (`effective_on`; see repository/lifecycle.py
    `deceased_on`). `vouchers_ended` / `released_fen`: the vouchers the change ended and the
    unused balance it released to the budget (`voucher.expired` events)."""

    __tablename__ = "beneficiary_status_change"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), nullable=False, index=True
        )
    )
    status: str = Field(sa_column=Column(String(20), nullable=False))
    effective_on: date = Field(sa_column=Column(Date, nullable=False))
    until: date | None = Field(default=None, sa_column=Column(Date))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    evidence_ref: str | None = Field(default=None, sa_column=Column(Text))
    from_status: str = Field(sa_column=Column(String(20), nullable=False))
    from_region_code: str = Field(sa_column=Column(String(12), nullable=False))
    to_region_code: str | None = Field(default=None, sa_column=Column(String(12)))
    vouchers_ended: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    released_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # officer (the API) or import (a status file, POST /v1/status-imports)
    source: str = Field(sa_column=Column(String(20), nullable=False, server_default="officer"))
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))

    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'suspended', 'hospitalised', 'moved', 'deceased', 'exited')",
            name="status",
        ),
        CheckConstraint(
            "until IS NULL OR (status = 'hospitalised' AND until >= effective_on)", name="until"
        ),
        CheckConstraint("to_region_code IS NULL OR status = 'moved'", name="to_region"),
        CheckConstraint("released_fen >= 0 AND vouchers_ended >= 0", name="released"),
        CheckConstraint("source IN ('officer', 'import')", name="source"),
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


class BeneficiaryProfileChange(VoucherTable, table=True):
    """An officer's edit of a person's profile (phone, address, location, contact, care
    setting): who, when, why and which fields. Never personal data in clear: `fields` names
    the fields only, and what they held before is one encrypted blob (`previous_enc`).
    Append-only."""

    __tablename__ = "beneficiary_profile_change"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), nullable=False, index=True
        )
    )
    fields: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    previous_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))

    __table_args__ = (CheckConstraint("cardinality(fields) > 0", name="fields"),)


class SpotDraw(VoucherTable, table=True):
    """A quarter's random spot reassessment draw in a region: at most one per region and
    quarter (a second ask answers this one). Reproducible: the people drawn are the first
    `drawn` of the region's active people ordered by HMAC-SHA256(seed, region|quarter|id)
    (service/spot_rules.py `draw`); `population_hash` fingerprints who could be drawn."""

    __tablename__ = "spot_draw"
    id: uuid.UUID = _uuid_pk()
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    quarter: str = Field(sa_column=Column(String(7), nullable=False))
    share_bp: int = Field(sa_column=Column(Integer, nullable=False))
    seed: str = Field(sa_column=Column(Text, nullable=False))
    population: int = Field(sa_column=Column(Integer, nullable=False))
    population_hash: str = Field(sa_column=Column(String(64), nullable=False))
    drawn: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _now()
    created_by: str = Field(sa_column=Column(Text, nullable=False))

    __table_args__ = (
        UniqueConstraint("region_code", "quarter", name="uq_spot_draw_region_quarter"),
        CheckConstraint("share_bp BETWEEN 1 AND 10000", name="share_bp"),
        CheckConstraint("drawn >= 0 AND drawn <= population", name="drawn"),
    )


class SpotDrawMember(VoucherTable, table=True):
    """A person drawn for a spot reassessment, in draw order (`rank` from 1)."""

    __tablename__ = "spot_draw_member"
    draw_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("spot_draw.id"), primary_key=True)
    )
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), primary_key=True, index=True
        )
    )
    rank: int = Field(sa_column=Column(Integer, nullable=False))

    __table_args__ = (UniqueConstraint("draw_id", "rank", name="uq_spot_draw_member_rank"),)


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

    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        # One live authorisation per account and person (migration voucher_2601).
        Index(
            "uq_proxy_authorisation_active",
            "beneficiary_id",
            "proxy_sub",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )


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
    # A service package's home visits left this period (NULL: not a package). Each bill that
    # names a home visit uses one (the redemption statement); at 0 the voucher is exhausted.
    visits_left: int | None = Field(default=None, sa_column=Column(SmallInteger))
    # Set when the voucher lapsed or was revoked (death, move, exit): the unused balance
    # handed back to the budget.
    released_fen: int | None = Field(default=None, sa_column=Column(BigInteger))
    # The person's hospital stay (copied from beneficiary.paused_*, also at insert by the
    # trigger voucher_guard_beneficiary): no redemption on those days (BENEFICIARY_PAUSED).
    paused_from: date | None = Field(default=None, sa_column=Column(Date))
    paused_until: date | None = Field(default=None, sa_column=Column(Date))
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
        CheckConstraint("visits_left IS NULL OR visits_left >= 0", name="visits_left_range"),
        CheckConstraint(
            "status IN ('active', 'exhausted', 'suspended', 'expired', 'revoked')", name="status"
        ),
        CheckConstraint("period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'", name="period_format"),
        CheckConstraint("ratio_bp IS NULL OR ratio_bp BETWEEN 0 AND 10000", name="ratio"),
        CheckConstraint(
            "released_fen IS NULL OR (released_fen >= 0 AND status IN ('expired', 'revoked'))",
            name="released_only_when_ended",
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


# The ledger's book of an event: the city-level prefix of its budget region (`main` without).
OUTBOX_BOOK = (
    "CASE WHEN (payload ->> 'budget_region_code') ~ '^[0-9]{4}' "
    "THEN left(payload ->> 'budget_region_code', 4) ELSE 'main' END"
)


class Outbox(VoucherTable, table=True):
    """Events for the ledger, written in the same transaction as the change they describe.

    The relay delivers undelivered rows in id order within their book (partition) and then
    sets `delivered_at`; the ledger applies each `event_id` once, so a redelivery after a
    crash changes nothing. `book` is derived from the payload's budget region (the ledger's
    book of the event: its city-level prefix, services/ledger/service/books.py), so a void
    and its redemption are always in one partition.
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
    book: str | None = Field(
        default=None,
        sa_column=Column(Text, Computed(OUTBOX_BOOK, persisted=True), nullable=False),
    )

    __table_args__ = (
        Index("ix_outbox_undelivered_book", "book", "id", postgresql_where="delivered_at IS NULL"),
        # the refused events (lag.rejected), written only on a refusal (voucher_2901)
        Index("ix_outbox_rejected", "id", postgresql_where="rejected"),
    )


class RelayLease(VoucherTable, table=True):
    """Who delivers a partition (an outbox book) now: one relay worker at a time, until
    `expires_at` unless it renews; a worker that dies loses its partitions when their leases
    expire, and another takes them (services/voucher/relay.py)."""

    __tablename__ = "relay_lease"
    partition: str = Field(sa_column=Column(Text, primary_key=True))
    owner: str | None = Field(default=None, sa_column=Column(Text))
    expires_at: datetime = Field(
        sa_column=Column(
            DateTime(timezone=True), nullable=False, server_default=text("'-infinity'")
        )
    )
    taken_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class UsedNonce(VoucherTable, table=True):
    """A QR nonce already accepted: the primary key makes a replay fail, even under a race.

    Rows past `expires_at` are purged (the token itself is refused as expired by then). The
    table holds a few minutes of redemptions, so the purge reads it whole: no index on
    `expires_at` to write per redemption (migration voucher_2301).
    """

    __tablename__ = "used_nonce"
    nonce: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime = _now()

    __table_args__ = (CheckConstraint("octet_length(nonce) = 8", name="length"),)


class ShortCode(VoucherTable, table=True):
    """The short numeric code printed under a phone's QR code (12-18 digits, typed by a
    cashier whose scanner fails), bound to that very token: a terminal sends the digits as
    its `token` and the service redeems the token they stand for. Only a hash of the digits
    is kept; the row goes with the token's expiry (purged with the used nonces)."""

    __tablename__ = "short_code"
    code_hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    token: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    created_at: datetime = _now()

    __table_args__ = (CheckConstraint("octet_length(code_hash) = 32", name="length"),)


class ShortCodeGuard(VoucherTable, table=True):
    """Wrong short codes typed at a provider, counted per window: past the limit the
    provider's terminals are refused every short code until the window ends, so guessing
    is no faster than the limit allows (SHORT_CODE_LOCKED)."""

    __tablename__ = "short_code_guard"
    provider_id: str = Field(sa_column=Column(String(64), primary_key=True))
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))

    __table_args__ = (CheckConstraint("failures >= 0", name="failures"),)


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
    # The last unlock after five wrong PINs: when, and by which officer.
    unlocked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    unlocked_by: str | None = Field(default=None, sa_column=Column(Text))

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
    # No foreign keys on these two (migration voucher_1901): the redemption statement takes
    # both from the voucher row it holds locked, and a voucher or a person a redemption names
    # is never deleted (trigger redemption_parent_kept).
    voucher_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    beneficiary_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    provider_id: str = Field(sa_column=Column(Text, nullable=False))
    terminal_id: str | None = Field(default=None, sa_column=Column(Text))
    # the staff member signed in at the terminal, when the terminal said (issue 21)
    staff_id: str | None = Field(default=None, sa_column=Column(Text))
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
    # The completed home visit that proves a home-visit item of the bill (service/visits.py);
    # one live redemption per visit (uq_redemption_visit).
    visit_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("visit.id", name="redemption_visit_id_fkey")
        ),
    )

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
        Index(
            "uq_redemption_visit",
            "visit_id",
            unique=True,
            postgresql_where="visit_id IS NOT NULL AND status = 'completed'",
        ),
    )


class RedemptionItem(VoucherTable, table=True):
    """A line of a redemption's bill, priced from the provider's price list: written by the
    redemption statement with the redemption; never changed (append-only). Only bills of
    several lines or a quantity above one have rows here: a bill of one line at quantity one
    is its redemption (service_code, category, gross_fen as the unit price and the amount;
    repository/redemption_flow.py `bill_line_of`), as were the bills before lines existed."""

    __tablename__ = "redemption_item"
    # No foreign key (migration voucher_1901): written by the redemption statement with its
    # redemption, from the same row; a redemption is never deleted (trigger redemption_guard).
    redemption_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
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


class RedemptionHistory(VoucherTable, table=True):
    """What happened to a redemption after it was made, by whom and when (append-only): the
    person's confirmation or dispute (one of the two, once: uq_redemption_history_review),
    the officer's decision, the person's appeal (once per dispute) and its decision.
    service/reviews.py writes it; the receipt and the audit trail read it."""

    __tablename__ = "redemption_history"
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True)
    )
    redemption_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("redemption.id", name="redemption_history_redemption_id_fkey"),
            nullable=False,
            index=True,
        )
    )
    dispute_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    actor_role: str = Field(sa_column=Column(String(20), nullable=False))
    at: datetime = _now()
    reason: str | None = Field(default=None, sa_column=Column(Text))
    decision: str | None = Field(default=None, sa_column=Column(String(20)))

    __table_args__ = (
        CheckConstraint(
            "kind IN ('confirmed', 'disputed', 'decided', 'appealed', 'appeal_decided')",
            name="kind",
        ),
        CheckConstraint(
            "(kind IN ('decided', 'appeal_decided')) = (decision IS NOT NULL)", name="decision"
        ),
        Index(
            "uq_redemption_history_review",
            "redemption_id",
            unique=True,
            postgresql_where="kind IN ('confirmed', 'disputed')",
        ),
        Index(
            "uq_redemption_history_appeal",
            "dispute_id",
            unique=True,
            postgresql_where="kind = 'appealed'",
        ),
    )


class Dispute(VoucherTable, table=True):
    """A person's dispute of a redemption: a case for the officers of the person's region,
    with a deadline to answer, a decision, and one appeal decided once more.

    open -> decided (upheld, partly_upheld, rejected) -> appealed -> closed. Each step is
    also a row of redemption_history (who, when, why)."""

    __tablename__ = "dispute"
    id: uuid.UUID = _uuid_pk()
    redemption_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("redemption.id", name="dispute_redemption_id_fkey"),
            nullable=False,
            unique=True,
        )
    )
    beneficiary_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    provider_id: str = Field(sa_column=Column(Text, nullable=False))
    # The person's region when the dispute was opened: whose officers answer it.
    region_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="open"))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    opened_by: str = Field(sa_column=Column(Text, nullable=False))
    opened_at: datetime = _now()
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    decision: str | None = Field(default=None, sa_column=Column(String(20)))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    appeal_reason: str | None = Field(default=None, sa_column=Column(Text))
    appealed_by: str | None = Field(default=None, sa_column=Column(Text))
    appealed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    appeal_due_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    appeal_decision: str | None = Field(default=None, sa_column=Column(String(20)))
    appeal_decision_reason: str | None = Field(default=None, sa_column=Column(Text))
    appeal_decided_by: str | None = Field(default=None, sa_column=Column(Text))
    appeal_decided_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )

    __table_args__ = (
        CheckConstraint("status IN ('open', 'decided', 'appealed', 'closed')", name="status"),
        CheckConstraint(
            "decision IS NULL OR decision IN ('upheld', 'partly_upheld', 'rejected')",
            name="decision_value",
        ),
        CheckConstraint(
            "appeal_decision IS NULL OR appeal_decision IN ('upheld', 'partly_upheld', 'rejected')",
            name="appeal_decision_value",
        ),
        CheckConstraint(
            "(status = 'open') = (decision IS NULL) "
            "AND (decision IS NULL) = (decided_at IS NULL) "
            "AND (status IN ('appealed', 'closed')) = (appealed_at IS NOT NULL) "
            "AND (appealed_at IS NULL) = (appeal_due_at IS NULL) "
            "AND (status = 'closed') = (appeal_decision IS NOT NULL) "
            "AND (appeal_decision IS NULL) = (appeal_decided_at IS NULL)",
            name="steps",
        ),
        Index("ix_dispute_region_status", "region_code", "status"),
    )


class Visit(VoucherTable, table=True):
    """A care worker's home visit, proven by the elder's live code at check-in and again at
    check-out on the provider's terminal (service/visits.py). The position at check-in lies
    within the configured radius of the elder's registered location, unless that location
    is approximate or missing (`location_check` says which)."""

    __tablename__ = "visit"
    id: uuid.UUID = _uuid_pk()
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("beneficiary.id", name="visit_beneficiary_id_fkey"),
            nullable=False,
            index=True,
        )
    )
    provider_id: str = Field(sa_column=Column(Text, nullable=False, index=True))
    care_worker: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="open"))
    check_in_terminal_id: str | None = Field(default=None, sa_column=Column(Text))
    checked_in_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    check_in_lat: float = Field(sa_column=Column(Float, nullable=False))
    check_in_lon: float = Field(sa_column=Column(Float, nullable=False))
    # within_radius: checked; approximate: the registered location is a community's centre
    # (not checked); no_location: none registered (not checked).
    location_check: str = Field(sa_column=Column(String(20), nullable=False))
    check_in_distance_m: int | None = Field(default=None, sa_column=Column(Integer))
    check_out_terminal_id: str | None = Field(default=None, sa_column=Column(Text))
    checked_out_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    check_out_lat: float | None = Field(default=None, sa_column=Column(Float))
    check_out_lon: float | None = Field(default=None, sa_column=Column(Float))
    check_out_distance_m: int | None = Field(default=None, sa_column=Column(Integer))
    duration_s: int | None = Field(default=None, sa_column=Column(Integer))

    __table_args__ = (
        CheckConstraint("status IN ('open', 'completed')", name="status"),
        CheckConstraint(
            "location_check IN ('within_radius', 'approximate', 'no_location')",
            name="location_check",
        ),
        CheckConstraint(
            "(status = 'completed') = (checked_out_at IS NOT NULL) "
            "AND (checked_out_at IS NULL) = (duration_s IS NULL) "
            "AND (duration_s IS NULL OR duration_s >= 0) "
            "AND (checked_out_at IS NULL OR checked_out_at >= checked_in_at)",
            name="check_out",
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
    # People the programme would pay but for a reason, counted by reason (the people
    # themselves are in issuance_skip): {"assessment_lapsed": n}.
    skip_reasons: dict[str, int] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
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


SKIP_REASONS = ("assessment_lapsed",)


class IssuanceSkip(VoucherTable, table=True):
    """A person an issuance run did not pay, and why: `assessment_lapsed` = the programme
    would pay them but their assessment had lapsed on the period's first day (a
    reassessment makes them eligible again from the next period). Append-only."""

    __tablename__ = "issuance_skip"
    run_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("issuance_run.id"), primary_key=True)
    )
    beneficiary_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("beneficiary.id"), primary_key=True, index=True
        )
    )
    reason: str = Field(sa_column=Column(String(40), nullable=False))
    created_at: datetime = _now()

    __table_args__ = (CheckConstraint("reason IN ('assessment_lapsed')", name="reason"),)


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


class AnomalyRule(VoucherTable, table=True):
    """An anomaly rule's thresholds for a region (its sub-regions inherit them unless they
    have their own row); regions without a row use the defaults of service/anomaly_rules.py.
    Every change is a new version in anomaly_rule_version (who, when, old, new, why)."""

    __tablename__ = "anomaly_rule"
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    rule_code: str = Field(sa_column=Column(String(40), primary_key=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    enabled: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))
    thresholds: dict[str, int] = Field(sa_column=Column(JSONB, nullable=False))
    updated_by: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = _now()

    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)


class AnomalyRuleVersion(VoucherTable, table=True):
    """Every setting a rule ever had in a region: the old and the new, who, when and why."""

    __tablename__ = "anomaly_rule_version"
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    rule_code: str = Field(sa_column=Column(String(40), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True))
    enabled: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))
    thresholds: dict[str, int] = Field(sa_column=Column(JSONB, nullable=False))
    # What was in force before (the defaults or the previous version), for the audit trail.
    old_enabled: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))
    old_thresholds: dict[str, int] = Field(sa_column=Column(JSONB, nullable=False))
    changed_by: str = Field(sa_column=Column(Text, nullable=False))
    changed_at: datetime = _now()
    reason: str = Field(sa_column=Column(Text, nullable=False))


class AnomalyCursor(VoucherTable, table=True):
    """How far the anomaly detector has read the outbox (its row lock orders detectors)."""

    __tablename__ = "anomaly_cursor"
    name: str = Field(sa_column=Column(String(40), primary_key=True))
    last_outbox_id: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    updated_at: datetime = _now()


class AnomalyTerminalUse(VoucherTable, table=True):
    """The detector's own index of redemptions by terminal and time, filled as it reads the
    events (not by the redemption, whose insert stays as the load test measured it): the
    terminal rules' windows are read here, never by scanning `redemption`."""

    __tablename__ = "anomaly_terminal_use"
    redemption_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    terminal_id: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    voided: bool = Field(
        default=False, sa_column=Column(sa_Boolean(), nullable=False, server_default="false")
    )

    __table_args__ = (Index("ix_anomaly_terminal_use_terminal", "terminal_id", "created_at"),)


class Alert(VoucherTable, table=True):
    """A hit of an anomaly rule with its evidence, waiting for (or given) an officer's
    decision. Confirmation records a credit event on the provider(s) and may start
    recoveries of the redemptions named (recovery.alert_id)."""

    __tablename__ = "alert"
    id: uuid.UUID = _uuid_pk()
    rule_code: str = Field(sa_column=Column(String(40), nullable=False))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    subject_kind: str = Field(sa_column=Column(String(20), nullable=False))
    subject_id: str = Field(sa_column=Column(Text, nullable=False))
    provider_ids: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    # The rule's settings when it fired (thresholds, version) and what it measured.
    facts: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # The redemptions, times and places: [{redemption_id, at, provider_id, ...}], time order.
    evidence: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="open"))
    decided_by: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text))
    # The credit event on the provider(s): none (not confirmed), pending, recorded.
    credit_state: str = Field(sa_column=Column(String(20), nullable=False, server_default="none"))
    credit_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        CheckConstraint("status IN ('open', 'dismissed', 'confirmed')", name="status"),
        CheckConstraint("credit_state IN ('none', 'pending', 'recorded')", name="credit_state"),
        CheckConstraint(
            "(status = 'open') = (decided_at IS NULL) AND "
            "(decided_at IS NULL) = (decided_by IS NULL) AND "
            "(decided_at IS NULL) = (decision_reason IS NULL)",
            name="decision_fields",
        ),
        CheckConstraint(
            "status = 'confirmed' OR credit_state = 'none'", name="credit_only_confirmed"
        ),
        Index("ix_alert_region_status", "region_code", "status", "created_at"),
        Index("ix_alert_subject", "rule_code", "subject_id", "status"),
    )


class AlertEvidence(VoucherTable, table=True):
    """A redemption already counted by a rule: the same evidence never raises a second alert
    of that rule, also when the detector reads an event again."""

    __tablename__ = "alert_evidence"
    rule_code: str = Field(sa_column=Column(String(40), primary_key=True))
    redemption_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    alert_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("alert.id", name="alert_evidence_alert_id_fkey"),
            nullable=False,
            index=True,
        )
    )


class Recovery(VoucherTable, table=True):
    """A wrongly paid redemption being taken back (one per redemption): posted to the ledger
    once as `redemption.recovered` (event_id); against the payable when the redemption was
    not claimed yet (`payable`: it can no longer be claimed), else a receivable netted from
    the provider's next claims (`receivable`). The subsidy goes back on the voucher
    (`voucher`: a living person not at fault, voucher still open) or to the budget."""

    __tablename__ = "recovery"
    id: uuid.UUID = _uuid_pk()
    redemption_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("redemption.id", name="recovery_redemption_id_fkey"),
            nullable=False,
            unique=True,
        )
    )
    alert_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("alert.id", name="recovery_alert_id_fkey"), index=True
        ),
    )
    provider_id: str = Field(sa_column=Column(Text, nullable=False, index=True))
    beneficiary_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    voucher_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    subsidy_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    mode: str = Field(sa_column=Column(String(20), nullable=False))
    destination: str = Field(sa_column=Column(String(20), nullable=False))
    at_fault: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    started_by: str = Field(sa_column=Column(Text, nullable=False))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    created_at: datetime = _now()

    __table_args__ = (
        CheckConstraint("subsidy_fen > 0", name="subsidy_positive"),
        CheckConstraint("mode IN ('payable', 'receivable')", name="mode"),
        CheckConstraint("destination IN ('voucher', 'budget')", name="destination"),
    )


# Tables whose rows are never updated or deleted: the service's role gets SELECT and INSERT only.
APPEND_ONLY_TABLES: list[str] = [
    "program_version",
    "cash_benefit",
    "request_key",
    "redemption_item",
    "beneficiary_status_change",
    "redemption_history",
    "anomaly_rule_version",
    "alert_evidence",
    "recovery",
    "beneficiary_profile_change",
    "issuance_skip",
    "spot_draw",
    "spot_draw_member",
]


class SummaryEnrolment(VoucherTable, table=True):
    """Active people per region code, grade (-1: none) and care setting: kept by the
    statement triggers `summary_enrolment_*` on `beneficiary` (migrations/sql/
    dashboard_summaries.sql), read by the dashboard instead of counting `beneficiary`."""

    __tablename__ = "summary_enrolment"
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    grade: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    care_setting: str = Field(sa_column=Column(String(20), primary_key=True))
    n: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class SummaryUse(VoucherTable, table=True):
    """Vouchers (count, face) and their redemptions not voided (count, subsidy) per region
    code, programme and period of the voucher. Vouchers: the statement trigger
    `summary_use_voucher` on INSERT into `voucher` (issuance); redemptions: the summariser
    folding `redemption.created` / `redemption.voided` from the outbox after its cursor
    (service/summary.py), never a trigger on the redemption's tables."""

    __tablename__ = "summary_use"
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    program_code: str = Field(sa_column=Column(String(40), primary_key=True))
    period: str = Field(sa_column=Column(String(7), primary_key=True))
    vouchers: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    face_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    redemptions: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    redeemed_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class SummaryCursor(VoucherTable, table=True):
    """How far the summariser has folded the outbox into `summary_use` (its row lock makes
    two summarisers take turns: each event is counted once)."""

    __tablename__ = "summary_cursor"
    name: str = Field(sa_column=Column(String(40), primary_key=True))
    last_outbox_id: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    updated_at: datetime = _now()


class CareCircleRule(VoucherTable, table=True):
    """The radii (metres) the stored care-circle states were measured with: one row. The
    service sets it from its settings; a change re-measures everyone (service/circle_summary.py)."""

    __tablename__ = "care_circle_rule"
    id: int = Field(default=1, sa_column=Column(SmallInteger, primary_key=True, server_default="1"))
    meal_radius_m: int = Field(
        default=1_000, sa_column=Column(Integer, nullable=False, server_default="1000")
    )
    care_radius_m: int = Field(
        default=1_500, sa_column=Column(Integer, nullable=False, server_default="1500")
    )


class CareCirclePoint(VoucherTable, table=True):
    """An approved, located provider as the care circle counts it (a meal point: kind
    meal_point or a `meal` item; a care provider: any kind but meal_point), synced from the
    provider directory; a change re-measures the people within reach (trigger
    `care_circle_point_apply`, migrations/sql/care_circle_summary.sql)."""

    __tablename__ = "care_circle_point"
    provider_id: str = Field(sa_column=Column(String(64), primary_key=True))
    lat: float = Field(sa_column=Column(Float, nullable=False))
    lon: float = Field(sa_column=Column(Float, nullable=False))
    meal: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))
    care: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))

    __table_args__ = (Index("ix_care_circle_point_lat_lon", "lat", "lon"),)


class CareCirclePerson(VoucherTable, table=True):
    """An active person as the care circle sees them, with whether an approved meal point and
    care provider are within reach: kept by the statement triggers `care_circle_person_*` on
    `beneficiary` and re-measured by a provider's change."""

    __tablename__ = "care_circle_person"
    beneficiary_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    approximate: bool = Field(sa_column=Column(sa_Boolean(), nullable=False))
    meal: bool = Field(
        default=False, sa_column=Column(sa_Boolean(), nullable=False, server_default="false")
    )
    care: bool = Field(
        default=False, sa_column=Column(sa_Boolean(), nullable=False, server_default="false")
    )

    __table_args__ = (
        Index(
            "ix_care_circle_person_lat_lon",
            "lat",
            "lon",
            postgresql_where="lat IS NOT NULL AND lon IS NOT NULL",
        ),
    )


class SummaryCareCircle(VoucherTable, table=True):
    """The care circle per region code (people's own): active, exactly located, covered,
    meal / care in reach, approximate, unlocated; kept by the statement triggers
    `summary_care_circle_*` on `care_circle_person`, read by the dashboard."""

    __tablename__ = "summary_care_circle"
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    active: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    exact: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    covered: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    meal_covered: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    care_covered: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    approximate: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    unlocated: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
