"""Tables of the provider service (its own database): the one definition of each table.

Rules live in service/, SQL in repository/. Guards kept by the database itself: the CHECK
constraints and indexes below, and the triggers in migrations/sql/ (the status workflow,
`provider_status_guard.sql`; the settlement account, `bank_account_change_guard.sql` and
`provider_bank_account_guard.sql`); the history and credit tables are append-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType
from sqlmodel import Field, SQLModel

from services.common.db import make_registry
from services.provider.service.review_rules import DocumentKind
from services.provider.service.vocabulary import (
    CreditKind,
    ProviderKind,
    ProviderStatus,
    ServiceCategory,
    TerminalStatus,
    sql_in,
)

registry = make_registry()
metadata = registry.metadata


class ProviderTable(SQLModel, registry=registry):
    """Base of every table of this service (keeps them out of the other services' metadata)."""


class PgPoint(UserDefinedType[Any]):
    """PostgreSQL's built-in geometric `point` (x = longitude, y = latitude); no PostGIS."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "POINT"


# Reflection (and so the drift check, alembic autogenerate) reads a `point` column back as this
# type, so the column's type is compared instead of skipped as unknown.
ischema_names.setdefault("point", PgPoint)


def _now() -> Any:
    return Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class DirectoryCounter(ProviderTable, table=True):
    """One row. Every change transaction increments it; its row lock orders the writers, so a
    reader that saw version N has seen every change up to N (see docs/architecture.md)."""

    __tablename__ = "directory_counter"
    id: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    changed_at: datetime = _now()

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("version >= 0", name="version_not_negative"),
    )


class Provider(ProviderTable, table=True):
    __tablename__ = "provider"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    uscc: str = Field(sa_column=Column(String(18), nullable=False, unique=True))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    address: str = Field(sa_column=Column(Text, nullable=False))
    lat: float = Field(sa_column=Column(Double, nullable=False))
    lon: float = Field(sa_column=Column(Double, nullable=False))
    location: Any = Field(
        default=None, sa_column=Column(PgPoint(), Computed("point(lon, lat)", persisted=True))
    )
    contact_name: str = Field(sa_column=Column(Text, nullable=False))
    contact_phone_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    contact_phone_masked: str = Field(sa_column=Column(String(20), nullable=False))
    bank_name: str = Field(sa_column=Column(Text, nullable=False))
    bank_account_name: str = Field(sa_column=Column(Text, nullable=False))
    bank_account_number_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    bank_account_number_masked: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="applied"))
    credit_points: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    # The directory version of this row's last change (the feed's `since` filter).
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The directory version at which the price list last changed: the voucher service stores
    # it with every bill it prices from that list.
    price_list_version: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_in(ProviderKind)})", name="kind"),
        CheckConstraint(f"status IN ({sql_in(ProviderStatus)})", name="status"),
        CheckConstraint("credit_points >= 0", name="credit_points_not_negative"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="coordinates"),
        CheckConstraint(
            "uscc ~ '^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}$'", name="uscc_shape"
        ),
        Index("ix_provider_version", "version"),
        # Nearby search: a bounding box on the point, approved providers only.
        Index(
            "ix_provider_location_approved",
            "location",
            postgresql_using="gist",
            postgresql_where=text("status = 'approved'"),
        ),
    )


class ServiceItem(ProviderTable, table=True):
    """One line of a provider's price list (普惠 price in fen)."""

    __tablename__ = "service_item"
    provider_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("provider.id", ondelete="CASCADE"), primary_key=True
        )
    )
    code: str = Field(sa_column=Column(String(40), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    category: str = Field(sa_column=Column(String(40), nullable=False))
    unit: str = Field(sa_column=Column(String(20), nullable=False))
    price_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    position: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    # How many units one visit (one bill) may carry.
    max_per_visit: int = Field(
        default=1, sa_column=Column(SmallInteger, nullable=False, server_default="1")
    )
    # A variable-price item (a repair, an assistive device): the bill carries its own unit
    # price, at most `max_price_fen`; `price_fen` is then the usual price shown.
    variable_price: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default="false")
    )
    max_price_fen: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Delivered in the elder's home: billed only against a completed, proven visit of at
    # least `min_minutes`.
    home_visit: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default="false")
    )
    min_minutes: int | None = Field(default=None, sa_column=Column(SmallInteger))
    # When it is served (a meal's serving hours, Beijing time), shown to the elder nearby;
    # both or neither.
    serves_from: time | None = Field(default=None, sa_column=Column(Time))
    serves_until: time | None = Field(default=None, sa_column=Column(Time))

    __table_args__ = (
        CheckConstraint(f"category IN ({sql_in(ServiceCategory)})", name="category"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("max_per_visit BETWEEN 1 AND 99", name="max_per_visit"),
        CheckConstraint(
            "variable_price = (max_price_fen IS NOT NULL) AND "
            "(max_price_fen IS NULL OR max_price_fen >= price_fen)",
            name="variable_price",
        ),
        CheckConstraint(
            "min_minutes IS NULL OR (home_visit AND min_minutes BETWEEN 1 AND 1440)",
            name="min_minutes",
        ),
        CheckConstraint(
            "(serves_from IS NULL) = (serves_until IS NULL) AND "
            "(serves_from IS NULL OR serves_from < serves_until)",
            name="serving_hours",
        ),
        Index("ix_service_item_category", "category", "provider_id"),
    )


class ProviderStatusChange(ProviderTable, table=True):
    """Every status a provider had: who changed it, when and why. Append-only."""

    __tablename__ = "provider_status_change"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    from_status: str | None = Field(sa_column=Column(String(20), nullable=True))
    to_status: str = Field(sa_column=Column(String(20), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    automatic: bool = Field(sa_column=Column(Boolean, nullable=False, server_default="false"))
    changed_at: datetime = _now()


class CreditEvent(ProviderTable, table=True):
    """The credit record (信用记录): warnings, violations and sanctions. Append-only."""

    __tablename__ = "credit_event"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: datetime = _now()
    # What caused it, when another system records it (e.g. `alert:<id>` from a confirmed
    # alert): an event with the same source is recorded once per provider.
    source_ref: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_in(CreditKind)})", name="kind"),
        CheckConstraint("points BETWEEN 0 AND 100", name="points_range"),
        Index(
            "uq_credit_event_source",
            "provider_id",
            "source_ref",
            unique=True,
            postgresql_where=text("source_ref IS NOT NULL"),
        ),
    )


class ProviderChange(ProviderTable, table=True):
    """Every change to a provider's price list or profile: who, when, what. Append-only.

    For a price list the whole new list is kept; for a profile only the names of the fields
    that changed (the account number and phone are not copied out of their encrypted columns).
    """

    __tablename__ = "provider_change"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    changed_at: datetime = _now()

    __table_args__ = (CheckConstraint("kind IN ('price_list', 'profile')", name="kind"),)


def _decided_once(table: str) -> tuple[Any, ...]:
    """The rules of a change an admin asks and an officer decides (a bank account, a price
    list): pending, then approved or rejected by someone other than the asker, or
    superseded; one pending a provider."""
    return (
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'superseded')", name="status"
        ),
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="maker_checker"),
        CheckConstraint(
            "(status IN ('approved', 'rejected')) = (decided_by IS NOT NULL)"
            " AND (status = 'pending') = (decided_at IS NULL)",
            name="decided",
        ),
        Index(
            f"uq_{table}_pending",
            "provider_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )


class PriceListChange(ProviderTable, table=True):
    """A price list that would raise what public money pays (a dearer item, a new item, a
    higher ceiling or more units a bill), asked by the provider's admin: pending until an
    officer of the region (not the requester) approves it, when it replaces the list, or
    rejects it; never deleted (service/price_review.py). `services` is the whole list asked
    for, `raises` the codes it raises."""

    __tablename__ = "price_list_change"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    services: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    raises: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(sa_column=Column(String(12), nullable=False, server_default="pending"))
    requested_by: str = Field(sa_column=Column(Text, nullable=False))
    requested_at: datetime = _now()
    decided_by: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reason: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = _decided_once("price_list_change")


class BankAccountChange(ProviderTable, table=True):
    """A settlement account change asked by the provider's admin: pending until an officer
    of the region (not the requester) approves or rejects it; never deleted, so the rows are
    the account's history. Triggers in migration provider_0005 keep a decided row as it is and
    let the provider's bank columns change only by an approved change (migrations/sql/)."""

    __tablename__ = "bank_account_change"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    bank_name: str = Field(sa_column=Column(Text, nullable=False))
    account_name: str = Field(sa_column=Column(Text, nullable=False))
    account_number_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    account_number_masked: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(sa_column=Column(String(12), nullable=False, server_default="pending"))
    requested_by: str = Field(sa_column=Column(Text, nullable=False))
    requested_at: datetime = _now()
    decided_by: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    decided_txid: int | None = Field(default=None, sa_column=Column(BigInteger))

    __table_args__ = _decided_once("bank_account_change")


class Terminal(ProviderTable, table=True):
    """A credential issued to a provider. Only the SHA-256 of its secret is kept."""

    __tablename__ = "terminal"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    name: str = Field(sa_column=Column(Text, nullable=False))
    secret_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    status: str = Field(sa_column=Column(String(20), nullable=False, server_default="active"))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_by: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _now()
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revoked_by: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Issued under an Idempotency-Key (provider_0701): the key scoped to its caller, the
    # request's hash, and for a short while the secret sealed, to answer a repeat again.
    request_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    request_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    secret_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    secret_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )

    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in(TerminalStatus)})", name="status"),
        CheckConstraint("secret_sha256 ~ '^[0-9a-f]{64}$'", name="secret_sha256_hex"),
        CheckConstraint("(status = 'revoked') = (revoked_at IS NOT NULL)", name="revoked_at"),
        CheckConstraint("(request_key IS NULL) = (request_hash IS NULL)", name="request_hash"),
        CheckConstraint("secret_sealed IS NULL OR secret_until IS NOT NULL", name="secret_until"),
        Index("ix_terminal_version", "version"),
        Index(
            "uq_terminal_request_key",
            "provider_id",
            "request_key",
            unique=True,
            postgresql_where="request_key IS NOT NULL",
        ),
    )


class ProviderDocument(ProviderTable, table=True):
    """A licence document uploaded with the application (营业执照, 食品经营许可证, ...): the file
    itself, kept in this database with the application, its type judged by its content
    (service/review_rules.py `sniff`). Read only by the provider's admin and the officers of
    its region. Append-only: a corrected document is a new upload."""

    __tablename__ = "provider_document"
    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    provider_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("provider.id"), nullable=False, index=True)
    )
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    filename: str = Field(sa_column=Column(Text, nullable=False))
    content_type: str = Field(sa_column=Column(String(40), nullable=False))
    size_bytes: int = Field(sa_column=Column(Integer, nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_by: str = Field(sa_column=Column(Text, nullable=False))
    uploaded_at: datetime = _now()

    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_in(DocumentKind)})", name="kind"),
        CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="content_type"
        ),
        CheckConstraint("size_bytes > 0 AND size_bytes = octet_length(content)", name="size"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )


# Tables whose rows are never updated or deleted: the service's role gets SELECT and INSERT only.
APPEND_ONLY_TABLES: list[str] = [
    "provider_status_change",
    "credit_event",
    "provider_change",
    "provider_document",
]
# bank_account_change is updated once (its decision); its trigger keeps it otherwise fixed.
