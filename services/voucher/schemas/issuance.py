"""Shapes of issuance runs and voucher lapse."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class IssuanceRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_code: str = Field(min_length=1, max_length=40)
    period: str = Field(max_length=7, description="YYYY-MM")
    region_code: str = Field(max_length=12)


class IssuancePreviewRead(BaseModel):
    """What `POST /v1/issuance-runs` would do now with the same program, period and region
    (nothing is written): the people it would issue to and what that commits, beside the
    budget the ledger holds for it (`budget_available_fen` null when there is none at or
    above the region, or the ledger cannot say just now)."""

    program_code: str
    period: str
    region_code: str
    eligible: int
    already_issued: int
    to_issue: int
    to_issue_fen: int
    assessment_lapsed: int
    budget_region_code: str | None
    budget_available_fen: int | None


class IssuanceRunResult(BaseModel):
    run_id: str
    status: str
    eligible: int
    issued: int
    skipped: int
    failed: int
    # People the programme would pay but for a reason, by reason: {"assessment_lapsed": n}
    # (who they are: GET /v1/issuance-runs/{id}/skips).
    skip_reasons: dict[str, int] = Field(default_factory=dict)


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
    skip_reasons: dict[str, int] = Field(default_factory=dict)
    message: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class IssuanceSkipRead(BaseModel):
    """A person a run did not pay, and why (`assessment_lapsed`)."""

    beneficiary_id: str
    reason: str


class ExpiryResult(BaseModel):
    expired: int
    events: int
    released_fen: int


class ScheduledIssuanceRead(BaseModel):
    """One scheduled issuance (program, period, region) with its latest run's counts.
    status: due, running, completed, budget_exhausted (not retried: appropriate, then run it
    by hand), failed (`last_error`; retried from `next_attempt_at` while attempts remain)."""

    id: str
    program_code: str
    period: str
    region_code: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
    run_id: str | None
    run_status: str | None
    eligible: int | None
    issued: int | None
    skipped: int | None
    failed: int | None
    run_message: str | None
