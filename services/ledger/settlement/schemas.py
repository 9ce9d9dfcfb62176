"""Request and response shapes of settlement (docs/settlement.md explains each field).

Timestamps in responses are ISO 8601 text as the database gave them (`+00:00`), ids as text.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from typing_extensions import TypedDict

from services.common.types import PERIOD_PATTERN

Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]
Key = Annotated[str, StringConstraints(min_length=8, max_length=200)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


# --- requests -------------------------------------------------------------------------------


class ClaimCreate(BaseModel):
    """Claim a period. Without `redemption_ids`, every claimable redemption of the period."""

    model_config = ConfigDict(extra="forbid")
    provider_id: Id
    period: Period
    redemption_ids: list[Id] | None = Field(default=None, min_length=1, max_length=10_000)
    idempotency_key: Key | None = None
    comment: Text | None = None


class ClaimApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Text | None = None


class ClaimReject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reasons: list[Text] = Field(min_length=1, max_length=50)
    comment: Text | None = None


class ClaimResubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Text | None = None


class BatchCreate(BaseModel):
    """Put approved claims in a payment batch: those named, or every approved claim whose
    regions lie within `region_code`."""

    model_config = ConfigDict(extra="forbid")
    region_code: RegionCode
    claim_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=5000)
    idempotency_key: Key
    # Also pay the nursing-subsidy cash benefits (2202) of this period within the region.
    cash_benefit_period: Period | None = None
    # False: cash benefits only (requires cash_benefit_period, no claim_ids).
    include_claims: bool = True

    @model_validator(mode="after")
    def _claims_or_benefits(self) -> BatchCreate:
        if not self.include_claims and (
            self.claim_ids is not None or self.cash_benefit_period is None
        ):
            raise ValueError("include_claims false needs cash_benefit_period and no claim_ids")
        return self


# --- claims ---------------------------------------------------------------------------------


class ClaimRedemptionRead(BaseModel):
    redemption_id: str
    entry_id: str
    amount_fen: int
    posted_at: str
    voucher_id: str | None
    beneficiary_id: str | None


class ClaimCopaymentRead(BaseModel):
    """A co-payment entry of a claim: received positive, refunded negative."""

    copayment_id: str
    entry_id: str
    kind: str
    amount_fen: int
    redemption_id: str | None
    posted_at: str


class ClaimRecoveryRead(BaseModel):
    """A recovery the provider owed back, netted from the claim (docs/ledger.md,
    "Recoveries"): the redemption taken back, its `recovery_receivable` entry (whose memo
    names the recovery and the alert), the amount netted."""

    redemption_id: str
    entry_id: str
    amount_fen: int
    posted_at: str
    memo: str | None


class ClaimableRead(BaseModel):
    provider_id: str
    period: str
    total_fen: int
    subsidy_fen: int
    copay_fen: int
    count: int
    redemptions: list[ClaimRedemptionRead]
    copayments: list[ClaimCopaymentRead]


class ClaimActionRead(BaseModel):
    action: str
    actor: str
    role: str
    comment: str | None
    reasons: list[str] | None
    at: str


class ClaimSummary(BaseModel):
    """A claim without its lines (lists)."""

    id: str
    provider_id: str
    period: str
    status: str
    total_fen: int
    subsidy_fen: int
    copay_fen: int
    recovered_fen: int = 0
    count: int
    region_codes: list[str]
    submitted_by: str
    submitted_at: str | None
    approved_by: str | None
    approved_at: str | None


class ClaimList(BaseModel):
    items: list[ClaimSummary]


class ClaimRead(BaseModel):
    id: str
    provider_id: str
    period: str
    region_codes: list[str]
    status: str
    total_fen: int
    subsidy_fen: int
    copay_fen: int
    recovered_fen: int = 0
    count: int
    submitted_by: str
    submitted_at: str | None
    approved_by: str | None
    approved_at: str | None
    redemptions: list[ClaimRedemptionRead]
    copayments: list[ClaimCopaymentRead]
    recoveries: list[ClaimRecoveryRead] = []
    history: list[ClaimActionRead]


# --- payment batches and cash benefits ------------------------------------------------------


class CashBenefitRead(BaseModel):
    benefit_id: str
    entry_id: str
    beneficiary_id: str
    program_code: str | None
    period: str
    amount_fen: int


class NotPayableCashBenefit(CashBenefitRead):
    """`reason`: NO_PAYOUT_ACCOUNT or BENEFICIARY_UNKNOWN; `name_masked` the person's name
    masked (王**), empty for a person the voucher service does not know."""

    reason: str
    name_masked: str = ""


class PayableCashBenefit(CashBenefitRead):
    """`name_masked`: the person's name masked (王**), for finance to read the list by."""

    name_masked: str
    bank_name: str
    account_number_masked: str


class CashBenefitsPayable(BaseModel):
    period: str
    region_code: str
    total_fen: int
    payable: list[PayableCashBenefit]
    not_payable: list[NotPayableCashBenefit]


class BatchLineRead(BaseModel):
    reference: str
    payee_kind: str
    claim_id: str | None
    provider_id: str | None
    beneficiary_id: str | None
    cash_benefit_entry_id: str | None
    payee_name: str
    bank_name: str
    account_number_masked: str
    amount_fen: int
    status: str
    entry_id: str | None
    failure_reason: str | None


class BatchRead(BaseModel):
    id: str
    reference: str
    region_code: str
    total_fen: int
    count: int
    file_sha256: str
    created_by: str
    created_at: str
    not_payable: list[NotPayableCashBenefit]
    lines: list[BatchLineRead]


class BatchSummaryRead(BaseModel):
    """`state`: pending, paid or partly_failed (service/batch_rules.py)."""

    id: str
    reference: str
    region_code: str
    total_fen: int
    count: int
    created_by: str
    created_at: str
    lines_pending: int
    lines_paid: int
    lines_failed: int
    paid_fen: int
    state: str


class BatchPage(BaseModel):
    items: list[BatchSummaryRead]
    next_cursor: str | None


class ConfirmationOutcome(TypedDict):
    """What importing a confirmation file did (kept with the file, answered again for it)."""

    paid: list[str]
    failed: list[str]
    unchanged: list[str]
    paid_fen: int
    file_sha256: str


class ConfirmationRead(BaseModel):
    paid: list[str]
    failed: list[str]
    unchanged: list[str]
    paid_fen: int
    file_sha256: str
    duplicate_file: bool


# --- statements and aging -------------------------------------------------------------------


class StatementRead(BaseModel):
    """closing = opening + redemptions - voids + copay_received - copay_refunded - payments
    - recoveries + other. `recoveries_fen`: wrongly paid redemptions taken back in the period
    (docs/ledger.md, "Recoveries"), before a claim or as an amount owed back."""

    provider_id: str
    period: str
    opening_fen: int
    redemptions_fen: int
    voids_fen: int
    copay_received_fen: int
    copay_refunded_fen: int
    payments_fen: int
    copay_paid_fen: int
    recoveries_fen: int = 0
    other_fen: int
    closing_fen: int
    copay_closing_fen: int


# Bucket keys start with a digit, so these are TypedDicts (a model field cannot be so named).
AgingTotals = TypedDict(
    "AgingTotals", {"0_30_fen": int, "31_60_fen": int, "61_90_fen": int, "over_90_fen": int}
)
AgingProvider = TypedDict(
    "AgingProvider",
    {
        "provider_id": str,
        "oldest_days": int,
        "total_fen": int,
        "copay_fen": int,
        "0_30_fen": int,
        "31_60_fen": int,
        "61_90_fen": int,
        "over_90_fen": int,
    },
)


class AgingRead(BaseModel):
    providers: list[AgingProvider]
    totals: AgingTotals


# --- reconciliation -------------------------------------------------------------------------


class Discrepancy(TypedDict):
    """One way the sides disagree: `side` is the one that is out (voucher, ledger,
    settlement or stripe), `amount_fen` by how much."""

    kind: str
    record: str
    side: str
    amount_fen: int
    detail: str


class CopaySettlement(TypedDict):
    """Online co-payments owed to providers: received = claimed + unclaimed."""

    received_fen: int
    claimed_fen: int
    unclaimed_fen: int
    refunds_to_recover_fen: int


class RecoveryOutstanding(TypedDict):
    """A recovery owed back by a provider not yet recovered (no paid claim nets it)."""

    redemption_id: str
    entry_id: str
    provider_id: str | None
    amount_fen: int
    claim_id: str | None  # the live claim netting it, if any (not paid yet)
    memo: str | None  # names the recovery and the alert


class RecoverySettlement(TypedDict):
    """Recoveries owed back by providers in the region (every period so far): recovered
    (netted by a paid claim) + outstanding (waiting for a claim, or in one not yet paid)."""

    owed_fen: int
    recovered_fen: int
    outstanding_fen: int
    outstanding: list[RecoveryOutstanding]


class ReconciliationRead(BaseModel):
    ok: bool
    period: str
    region_code: str
    redemptions_checked: int
    stripe_checked: bool
    copay_settlement: CopaySettlement
    recoveries: RecoverySettlement | None = None
    discrepancies: list[Discrepancy]
