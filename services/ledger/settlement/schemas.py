"""Request bodies of settlement (responses are plain dicts documented in docs/settlement.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Period = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
Key = Annotated[str, StringConstraints(min_length=8, max_length=200)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


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
    region_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]
    claim_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=5000)
    idempotency_key: Key
    # Also pay the nursing-subsidy cash benefits (2202) of this period within the region.
    cash_benefit_period: Annotated[
        str | None, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    ] = None
    # False: cash benefits only (requires cash_benefit_period, no claim_ids).
    include_claims: bool = True

    @model_validator(mode="after")
    def _claims_or_benefits(self) -> BatchCreate:
        if not self.include_claims and (
            self.claim_ids is not None or self.cash_benefit_period is None
        ):
            raise ValueError("include_claims false needs cash_benefit_period and no claim_ids")
        return self
