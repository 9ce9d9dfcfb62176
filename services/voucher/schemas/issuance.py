"""Shapes of issuance runs and voucher lapse."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class IssuanceRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_code: str = Field(min_length=1, max_length=40)
    period: str = Field(max_length=7, description="YYYY-MM")
    region_code: str = Field(max_length=12)


class IssuanceRunResult(BaseModel):
    run_id: str
    status: str
    eligible: int
    issued: int
    skipped: int
    failed: int


class IssuanceRunRead(BaseModel):
    run_id: str
    program_code: str
    program_version: int
    period: str
    region_code: str
    trigger: str
    status: str
    eligible: int
    issued: int
    skipped: int
    failed: int
    chunks_done: int
    message: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class ExpiryResult(BaseModel):
    expired: int
    events: int
    released_fen: int
