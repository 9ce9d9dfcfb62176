"""Settlement tables (created by migration ledger_0101 with their triggers; mirrored here so
code can name them and autogenerate stays quiet)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, LargeBinary, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field

from services.ledger.models import LedgerTable


class Claim(LedgerTable, table=True):
    __tablename__ = "claim"
    id: uuid.UUID = Field(primary_key=True)
    provider_id: str
    period: str
    region_codes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    status: str
    total_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    subsidy_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    copay_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    line_count: int = 0
    idempotency_key: str | None = None
    request_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    submitted_by: str
    submitted_at: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    rejected_by: str | None = None
    rejected_at: datetime | None = None
    created_at: datetime | None = None


class ClaimLine(LedgerTable, table=True):
    __tablename__ = "claim_line"
    claim_id: uuid.UUID = Field(primary_key=True)
    redemption_id: str = Field(primary_key=True)
    entry_id: uuid.UUID
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = True


class ClaimCopayLine(LedgerTable, table=True):
    """An online co-payment entry (received +, refunded -) carried by a claim (ledger_0111)."""

    __tablename__ = "claim_copay_line"
    claim_id: uuid.UUID = Field(primary_key=True)
    entry_id: uuid.UUID = Field(primary_key=True)
    copayment_id: str
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = True


class CopaymentMethod(LedgerTable, table=True):
    """How a co-payment was paid (stripe | cash), from its events; append-only."""

    __tablename__ = "copayment_method"
    copayment_id: str = Field(primary_key=True)
    method: str
    redemption_id: str
    provider_id: str
    recorded_at: datetime | None = None


class ClaimAction(LedgerTable, table=True):
    __tablename__ = "claim_action"
    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    claim_id: uuid.UUID
    action: str
    actor: str
    role: str
    comment: str | None = None
    reasons: Any = Field(default=None, sa_column=Column(JSONB))
    at: datetime | None = None
