"""Shapes of the voucher side of the ledger's reconciliation."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class ReconciliationRedemption(BaseModel):
    id: str
    provider_id: str
    subsidy_fen: int
    copay_fen: int
    status: str
    claim_id: str | None
    day_on: date
    program_code: str
    budget_region_code: str


class ReconciliationBalance(BaseModel):
    program_code: str
    budget_region_code: str
    balance_fen: int


class ReconciliationCopayment(BaseModel):
    id: str
    redemption_id: str
    method: str
    captured_fen: int
    refunded_fen: int
    payment_intent_id: str | None


class ReconciliationFeed(BaseModel):
    """A period's redemptions, their co-payments and the voucher balances, one snapshot."""

    copayments: list[ReconciliationCopayment]
    redemptions: list[ReconciliationRedemption]
    balances: list[ReconciliationBalance]
