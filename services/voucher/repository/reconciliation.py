"""The voucher side of reconciliation (read-only; the caller gives one snapshot): a period's
redemptions of a budget region, their co-payments, and the voucher balances, as the feed's
shapes (schemas/reconciliation.py; the columns are labelled with their names)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Result, Text, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Copayment, Redemption, Voucher
from services.voucher.schemas.reconciliation import (
    ReconciliationBalance,
    ReconciliationCopayment,
    ReconciliationFeed,
    ReconciliationRedemption,
)


async def feed(session: AsyncSession, period: str, region_prefix: str) -> ReconciliationFeed:
    r, v, c = Redemption, Voucher, Copayment
    in_period = func.to_char(col(r.day_on), "YYYY-MM") == period
    in_region = col(v.budget_region_code).like(region_prefix + "%")
    redemptions = await session.execute(
        select(
            sql_cast(col(r.id), Text).label("id"),
            col(r.provider_id),
            col(r.subsidy_fen),
            col(r.copay_fen),
            col(r.status),
            col(r.claim_id),
            col(r.day_on),
            col(v.program_code),
            col(v.budget_region_code),
        )
        .join(v, col(v.id) == col(r.voucher_id))
        .where(in_period, in_region)
        .order_by(col(r.created_at), col(r.id))
    )
    balances = await session.execute(
        select(
            col(v.program_code),
            col(v.budget_region_code),
            sql_cast(func.sum(col(v.balance_fen)), BigInteger).label("balance_fen"),
        )
        .where(in_region)
        .group_by(col(v.program_code), col(v.budget_region_code))
        .order_by(col(v.program_code), col(v.budget_region_code))
    )
    copayments: Result[Any] = await session.execute(
        select(
            sql_cast(col(c.id), Text).label("id"),
            sql_cast(col(c.redemption_id), Text).label("redemption_id"),
            col(c.method),
            col(c.captured_fen),
            col(c.refunded_fen),
            col(c.stripe_payment_intent_id).label("payment_intent_id"),
        )
        .join(r, col(r.id) == col(c.redemption_id))
        .join(v, col(v.id) == col(r.voucher_id))
        .where(in_period, in_region)
        .order_by(col(c.created_at), col(c.id))
    )
    return ReconciliationFeed(
        redemptions=[
            ReconciliationRedemption.model_validate(row, from_attributes=True)
            for row in redemptions
        ],
        balances=[
            ReconciliationBalance.model_validate(row, from_attributes=True) for row in balances
        ],
        copayments=[
            ReconciliationCopayment.model_validate(row, from_attributes=True) for row in copayments
        ],
    )
