"""Anomaly rules' settings, alerts and their decisions, recoveries (docs/anomalies.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class RuleSettingRead(BaseModel):
    rule_code: str
    name: str
    region_code: str  # the region asked about
    source_region_code: str | None  # where the settings in force come from (None: defaults)
    version: int  # of the region's own row (0: it has none)
    source_version: int  # of the settings in force
    enabled: bool
    thresholds: dict[str, int]
    defaults: dict[str, int]
    bounds: dict[str, list[int]]


class RuleSettingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: str
    enabled: bool
    thresholds: dict[str, int]
    reason: Reason
    # The version of the region's own row the officer edited (0 when it had none).
    expected_version: int


class RuleVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region_code: str
    rule_code: str
    version: int
    enabled: bool
    thresholds: dict[str, int]
    old_enabled: bool
    old_thresholds: dict[str, int]
    changed_by: str
    changed_at: datetime
    reason: str


class RecoveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    redemption_id: str
    alert_id: str | None
    provider_id: str
    subsidy_fen: int
    mode: Literal["payable", "receivable"]
    destination: Literal["voucher", "budget"]
    at_fault: bool
    reason: str
    started_by: str
    # The outbox event the ledger posts it under (its entry: GET /v1/entries?... ref).
    event_id: str
    created_at: datetime


class AlertRead(BaseModel):
    id: str
    rule_code: str
    rule_name: str
    region_code: str
    subject_kind: str
    subject_id: str
    provider_ids: list[str]
    facts: dict[str, Any]
    evidence: list[dict[str, Any]]
    status: Literal["open", "dismissed", "confirmed"]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    credit_state: Literal["none", "pending", "recorded"]
    created_at: datetime
    recoveries: list[RecoveryRead] = []


class AlertList(BaseModel):
    items: list[AlertRead]


class AlertDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["dismiss", "confirm"]
    reason: Reason
    # Confirm only: which of the alert's redemptions were paid wrongly (default: every live
    # one it names), and whether the elderly person was at fault (then nothing goes back on
    # the voucher: the subsidy returns to the budget).
    recover_redemption_ids: list[str] | None = None
    at_fault: bool = False
