"""Shapes of the reassessment due list and the quarterly spot reassessment draws (personal
data masked)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class DueEntry(BaseModel):
    """A person whose assessment lapses within the window asked for (or has lapsed)."""

    id: str
    name: str
    national_id_masked: str
    region_code: str
    grade: int | None
    grade_valid_until: date
    days_left: int  # negative: lapsed that many days ago
    lapsed: bool
    care_setting: str


class DuePage(BaseModel):
    within_days: int
    items: list[DueEntry]
    next_cursor: str | None


class SpotDrawCreate(BaseModel):
    """Draw a quarter's spot reassessments in a region (default: the officer's region, this
    quarter). The share is the configured one and the seed is drawn by the service, never
    chosen by the caller: an officer cannot try seeds or shares until someone is left out.
    Drawing a quarter and region that was drawn before answers that draw (200)."""

    model_config = ConfigDict(extra="forbid")

    region_code: str | None = Field(None, max_length=12)
    quarter: str | None = Field(None, max_length=7, description="YYYY-Qn")


class SpotDrawMemberRead(BaseModel):
    rank: int
    beneficiary_id: str
    name: str
    national_id_masked: str
    region_code: str
    grade: int | None
    # the newest assessment made on or after the draw's day (null: not reassessed yet)
    reassessed_on: date | None


class SpotDrawRead(BaseModel):
    id: str
    region_code: str
    quarter: str
    share_bp: int
    seed: str
    population: int
    population_hash: str
    drawn: int
    created_at: datetime
    created_by: str
    # true when this answer is a draw made before (same region and quarter)
    recorded: bool = False
    members: list[SpotDrawMemberRead] = Field(default_factory=list)
