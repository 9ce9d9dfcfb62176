"""Settlement tables: the one definition of each (claims, payment batches, bank confirmations,
how co-payments were paid). Migrations ledger_0101..0111 built them; their triggers (the
claim workflow, line checks, totals, append-only guards) are in those migrations and
docs/settlement.md.

Foreign keys keep the names PostgreSQL gave them (`<table>_<column>_fkey`): the migrations
declared them inline, before the naming convention existed.
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
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field

from services.ledger.models import LedgerTable

NOW = text("clock_timestamp()")


def _now_column() -> Any:
    """`timestamptz NOT NULL DEFAULT clock_timestamp()`: the database stamps the row."""
    return Column(DateTime(timezone=True), nullable=False, server_default=NOW)


def _at(nullable: bool = True) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


def _fk(column: str, target: str) -> Any:
    return ForeignKey(target, name=f"{column}_fkey")


class Claim(LedgerTable, table=True):
    """A provider's claim for a period: its redemption lines (`claim_line`) and online
    co-payment lines (`claim_copay_line`), moved along the maker-checker workflow."""

    __tablename__ = "claim"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_claim_idempotency_key"),
        CheckConstraint("period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'", name="period"),
        CheckConstraint(
            "status IN ('pending', 'submitted', 'rejected', 'approved', 'abandoned', "
            "'batched', 'paid')",
            name="status",
        ),
        CheckConstraint("total_fen >= 0 AND line_count >= 0", name="total"),
        CheckConstraint("approved_by IS NULL OR approved_by <> submitted_by", name="maker_checker"),
        CheckConstraint(
            "(status IN ('approved', 'batched', 'paid')) = (approved_by IS NOT NULL)",
            name="approved",
        ),
        CheckConstraint(
            "total_fen = subsidy_fen + copay_fen - recovered_fen AND subsidy_fen >= 0 "
            "AND recovered_fen >= 0",
            name="parts",
        ),
        Index("ix_claim_provider_period", "provider_id", "period"),
        Index("ix_claim_status", "status"),
    )

    id: uuid.UUID = Field(primary_key=True)
    provider_id: str = Field(sa_type=Text)
    period: str = Field(sa_type=Text)
    region_codes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    status: str = Field(sa_type=Text)
    total_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    line_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    idempotency_key: str | None = Field(default=None, sa_type=Text)
    request_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    submitted_by: str = Field(sa_type=Text)
    submitted_at: datetime | None = Field(default=None, sa_column=_at())
    approved_by: str | None = Field(default=None, sa_type=Text)
    approved_at: datetime | None = Field(default=None, sa_column=_at())
    rejected_by: str | None = Field(default=None, sa_type=Text)
    rejected_at: datetime | None = Field(default=None, sa_column=_at())
    created_at: datetime | None = Field(default=None, sa_column=_now_column())
    subsidy_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    copay_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    # Recoveries netted from this claim (its `claim_recovery_line`s, as a positive amount).
    recovered_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )


class ClaimLine(LedgerTable, table=True):
    """A redemption entry carried by a claim; `active` false once it has left the claim."""

    __tablename__ = "claim_line"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        Index(
            "uq_claim_line_active_redemption",
            "redemption_id",
            unique=True,
            postgresql_where=text("active"),
        ),
    )

    claim_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_line_claim_id", "claim.id"), primary_key=True)
    )
    redemption_id: str = Field(sa_column=Column(Text, primary_key=True))
    entry_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_line_entry_id", "entry.id"), nullable=False)
    )
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true"))
    )


class ClaimCopayLine(LedgerTable, table=True):
    """An online co-payment entry (received +, refunded -) carried by a claim (ledger_0111)."""

    __tablename__ = "claim_copay_line"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount"),
        Index(
            "uq_claim_copay_line_active_entry",
            "entry_id",
            unique=True,
            postgresql_where=text("active"),
        ),
        Index("ix_claim_copay_line_copayment", "copayment_id"),
    )

    claim_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_copay_line_claim_id", "claim.id"), primary_key=True)
    )
    entry_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_copay_line_entry_id", "entry.id"), primary_key=True)
    )
    copayment_id: str = Field(sa_type=Text)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true"))
    )


class ClaimRecoveryLine(LedgerTable, table=True):
    """A recovery owed back by the provider (a `recovery_receivable` entry) netted from a
    claim, for exactly what it debited to provider payable (ledger_0401)."""

    __tablename__ = "claim_recovery_line"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        Index(
            "uq_claim_recovery_line_active_entry",
            "entry_id",
            unique=True,
            postgresql_where=text("active"),
        ),
    )

    claim_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_recovery_line_claim_id", "claim.id"), primary_key=True)
    )
    entry_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_recovery_line_entry_id", "entry.id"), primary_key=True)
    )
    redemption_id: str = Field(sa_type=Text)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true"))
    )


class CopaymentMethod(LedgerTable, table=True):
    """How a co-payment was paid (stripe | cash), from its events; append-only."""

    __tablename__ = "copayment_method"
    __table_args__ = (CheckConstraint("method IN ('stripe', 'cash')", name="method"),)

    copayment_id: str = Field(sa_column=Column(Text, primary_key=True))
    method: str = Field(sa_type=Text)
    redemption_id: str = Field(sa_type=Text)
    provider_id: str = Field(sa_type=Text)
    recorded_at: datetime | None = Field(default=None, sa_column=_now_column())


class ClaimAction(LedgerTable, table=True):
    """A claim's history, append-only: who did what, with comment and reasons."""

    __tablename__ = "claim_action"
    __table_args__ = (
        CheckConstraint(
            "action IN ('prepare', 'submit', 'resubmit', 'edit', 'approve', 'reject', "
            "'abandon', 'batch', 'pay')",
            name="action",
        ),
        Index("ix_claim_action_claim", "claim_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    claim_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("claim_action_claim_id", "claim.id"), nullable=False)
    )
    action: str = Field(sa_type=Text)
    actor: str = Field(sa_type=Text)
    role: str = Field(sa_type=Text)
    comment: str | None = Field(default=None, sa_type=Text)
    # none_as_null: a claim action without reasons stores SQL NULL, not JSON null.
    reasons: list[str] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    at: datetime | None = Field(default=None, sa_column=_now_column())


class PaymentBatch(LedgerTable, table=True):
    """Approved claims (and cash benefits) put to the bank in one instruction file, kept
    encrypted with its SHA-256 (ledger_0102, 0103, 0110); append-only."""

    __tablename__ = "payment_batch"
    __table_args__ = (
        UniqueConstraint("reference", name="uq_payment_batch_reference"),
        UniqueConstraint("idempotency_key", name="uq_payment_batch_idempotency_key"),
        CheckConstraint("total_fen > 0 AND line_count > 0", name="total"),
        CheckConstraint("file_sha256 ~ '^[0-9a-f]{64}$'", name="sha"),
    )

    id: uuid.UUID = Field(primary_key=True)
    reference: str = Field(sa_type=Text)
    region_code: str = Field(sa_type=Text)
    total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    line_count: int = Field(sa_column=Column(Integer, nullable=False))
    file_sha256: str = Field(sa_type=Text)
    idempotency_key: str = Field(sa_type=Text)
    request_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_by: str = Field(sa_type=Text)
    created_at: datetime | None = Field(default=None, sa_column=_now_column())
    not_payable: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    file_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class PaymentLine(LedgerTable, table=True):
    """One payment of a batch: a claim to its provider, or a cash benefit to its
    beneficiary; pending until the bank's confirmation settles it once (paid or failed)."""

    __tablename__ = "payment_line"
    __table_args__ = (
        UniqueConstraint("entry_id", name="uq_payment_line_entry"),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("status IN ('pending', 'paid', 'failed')", name="status"),
        CheckConstraint("(status = 'paid') = (entry_id IS NOT NULL)", name="paid"),
        CheckConstraint("payee_kind IN ('provider', 'beneficiary')", name="payee_kind"),
        CheckConstraint(
            "(payee_kind = 'provider' AND claim_id IS NOT NULL AND provider_id IS NOT NULL "
            "AND cash_entry_id IS NULL AND beneficiary_id IS NULL) "
            "OR (payee_kind = 'beneficiary' AND claim_id IS NULL AND provider_id IS NULL "
            "AND cash_entry_id IS NOT NULL AND beneficiary_id IS NOT NULL)",
            name="payee",
        ),
        Index("ix_payment_line_batch", "batch_id"),
        # a claim, or a cash benefit, is in at most one line that is pending or paid
        Index(
            "uq_payment_line_live_claim",
            "claim_id",
            unique=True,
            postgresql_where=text("status <> 'failed'"),
        ),
        Index(
            "uq_payment_line_live_cash_benefit",
            "cash_entry_id",
            unique=True,
            postgresql_where=text("status <> 'failed' AND cash_entry_id IS NOT NULL"),
        ),
    )

    reference: str = Field(sa_column=Column(Text, primary_key=True))
    batch_id: uuid.UUID = Field(
        sa_column=Column(Uuid, _fk("payment_line_batch_id", "payment_batch.id"), nullable=False)
    )
    claim_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, _fk("payment_line_claim_id", "claim.id"))
    )
    provider_id: str | None = Field(default=None, sa_type=Text)
    payee_name: str = Field(sa_type=Text)
    bank_name: str = Field(sa_type=Text)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    purpose: str = Field(sa_type=Text)
    status: str = Field(
        default="pending",
        sa_column=Column(Text, nullable=False, server_default=text("'pending'::text")),
    )
    entry_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, _fk("payment_line_entry_id", "entry.id"))
    )
    bank_reference: str | None = Field(default=None, sa_type=Text)
    failure_reason: str | None = Field(default=None, sa_type=Text)
    settled_at: datetime | None = Field(default=None, sa_column=_at())
    payee_kind: str = Field(
        default="provider",
        sa_column=Column(Text, nullable=False, server_default=text("'provider'::text")),
    )
    cash_entry_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, _fk("payment_line_cash_entry_id", "entry.id"))
    )
    beneficiary_id: str | None = Field(default=None, sa_type=Text)
    # the payee's account number, encrypted (secrets.line_context) and masked (last four)
    account_number_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    account_number_masked: str = Field(sa_type=Text)


class BankConfirmation(LedgerTable, table=True):
    """A bank confirmation file imported for a batch, by its SHA-256, with the result it
    gave (the same file again answers the same and posts nothing); append-only."""

    __tablename__ = "bank_confirmation"

    batch_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, _fk("bank_confirmation_batch_id", "payment_batch.id"), primary_key=True
        )
    )
    file_sha256: str = Field(sa_column=Column(Text, primary_key=True))
    imported_by: str = Field(sa_type=Text)
    imported_at: datetime | None = Field(default=None, sa_column=_now_column())
    result: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
