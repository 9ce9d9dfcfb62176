"""Shapes of receipts, confirmations, disputes and appeals, and of home visits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ReceiptParty(BaseModel):
    id: str
    name: str


class ReceiptLine(BaseModel):
    service_code: str
    name: str
    unit: str
    category: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


class VisitBrief(BaseModel):
    """The home visit a receipt's home-visit items were delivered in."""

    id: str
    care_worker: str | None
    checked_in_at: datetime
    checked_out_at: datetime | None
    minutes: int
    location_check: str


class HistoryEntry(BaseModel):
    kind: str  # confirmed, disputed, decided, appealed, appeal_decided
    at: datetime
    actor_role: str
    # Who did it: shown to the officers only (the audit trail); null for everyone else.
    actor: str | None = None
    reason: str | None = None
    decision: str | None = None


class RecoveryBrief(BaseModel):
    """The redemption's subsidy taken back (a dispute upheld, a confirmed alert, a death):
    `destination` voucher (back on the person's voucher) or budget; `mode` payable (it was
    not claimed: it is never paid) or receivable (it was claimed: netted from the
    provider's next claims)."""

    subsidy_fen: int
    destination: Literal["voucher", "budget"]
    mode: Literal["payable", "receivable"]
    at: datetime  # Asia/Shanghai, with its offset


class DisputeRead(BaseModel):
    id: str
    redemption_id: str
    beneficiary_id: str
    provider_id: str
    provider_name: str
    region_code: str
    status: Literal["open", "decided", "appealed", "closed"]
    reason: str
    opened_at: datetime
    due_at: datetime
    # Against the deadline of its current stage (the dispute, then the appeal).
    deadline: Literal["on_track", "at_risk", "overdue", "answered"]
    decision: str | None
    decision_reason: str | None
    decided_at: datetime | None
    appeal_reason: str | None
    appealed_at: datetime | None
    appeal_due_at: datetime | None
    appeal_decision: str | None
    appeal_decision_reason: str | None
    appeal_decided_at: datetime | None
    # Whether the person may still appeal, and until when.
    can_appeal: bool
    appeal_closes_at: datetime | None
    # What an upheld decision took back (set where the dispute is read with its receipt).
    recovery: RecoveryBrief | None = None


class ReviewState(BaseModel):
    # open: may still be confirmed or disputed; closed: the window passed (or voided).
    state: Literal["open", "confirmed", "disputed", "closed"]
    window_closes_at: datetime
    at: datetime | None = None


class ReceiptRead(BaseModel):
    """Everything the family, the provider and the officer see of one redemption."""

    id: str
    status: str
    created_at: datetime  # Asia/Shanghai, with its offset
    day_on: date
    program_code: str | None
    provider: ReceiptParty
    terminal: ReceiptParty | None
    items: list[ReceiptLine]
    gross_fen: int
    subsidy_fen: int
    copay_fen: int
    balance_after_fen: int
    voided_at: datetime | None
    void_reason: str | None
    visit: VisitBrief | None
    review: ReviewState
    dispute: DisputeRead | None
    history: list[HistoryEntry]
    recovery: RecoveryBrief | None = None


class DisputeDetail(DisputeRead):
    receipt: ReceiptRead


class DisputeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ConfirmCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["upheld", "partly_upheld", "rejected"]
    reason: Reason


class AppealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


# --- home visits ----------------------------------------------------------------------------

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Pin = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class VisitCheckIn(BaseModel):
    """The elder's live code (the phone's dynamic code, or the printed card with its PIN)
    and where the terminal is."""

    model_config = ConfigDict(extra="forbid")

    token: Token
    pin: Pin | None = None
    lat: Lat
    lon: Lon
    care_worker: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )


class VisitCheckOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token
    pin: Pin | None = None
    lat: Lat
    lon: Lon


class VisitRead(BaseModel):
    id: str
    beneficiary_id: str
    provider_id: str
    care_worker: str | None
    status: Literal["open", "completed"]
    checked_in_at: datetime
    location_check: Literal["within_radius", "approximate", "no_location"]
    check_in_distance_m: int | None
    checked_out_at: datetime | None
    check_out_distance_m: int | None
    duration_s: int | None
    minutes: int
