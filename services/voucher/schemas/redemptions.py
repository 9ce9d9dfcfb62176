"""Shapes of redemptions, voids and claims."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Fen = Annotated[int, Field(strict=True, gt=0, le=100_000_000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Key = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class RedemptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    service_code: Code
    gross_fen: Fen
    idempotency_key: Key
    pin: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None


class RedemptionPreviewCreate(BaseModel):
    """The redemption's body without the idempotency key: what would this bill get?"""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    service_code: Code
    gross_fen: Fen
    pin: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None


class RedemptionPreviewRead(BaseModel):
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    voucher_id: str
    program_code: str


class RedemptionCreated(BaseModel):
    id: str
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    voucher_id: str


class VoidCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class VoidRead(BaseModel):
    id: str
    status: str
    voucher_id: str
    balance_fen: int
    voided_at: datetime
    already_voided: bool


class ClaimCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    redemption_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10_000)]


class ClaimRead(BaseModel):
    claim_id: str
    claimed: list[str]


class RedemptionRead(BaseModel):
    id: str
    voucher_id: str
    beneficiary_id: str
    provider_id: str
    terminal_id: str | None
    service_code: str
    category: str
    gross_fen: int
    subsidy_fen: int
    copay_fen: int
    day_on: date
    created_at: datetime
    status: str
    voided_at: datetime | None
    void_reason: str | None
    claimed: bool


class OutboxLag(BaseModel):
    undelivered: int
    rejected: int
    oldest_undelivered_at: datetime | None
    oldest_age_s: float
