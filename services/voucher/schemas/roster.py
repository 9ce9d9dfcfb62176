"""Shapes of the officer's roster (GET /v1/beneficiaries): personal data masked."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class RosterEntry(BaseModel):
    id: str
    name: str
    national_id_masked: str
    phone_masked: str | None
    region_code: str
    status: str  # the current state: `hospitalised` while a stay covers today
    grade: int | None
    grade_valid_until: date | None
    reassessment_due: bool  # the assessment lapses within the due window (or has lapsed)
    care_setting: str
    created_at: datetime


class RosterPage(BaseModel):
    items: list[RosterEntry]
    # Pass as `cursor` for the next page; null on the last page.
    next_cursor: str | None
