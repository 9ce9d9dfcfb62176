"""The voucher side of reconciliation (read-only; the caller gives one snapshot): a period's
redemptions of a budget region, their co-payments, and the voucher balances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, Text, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Copayment, Redemption, Voucher


@dataclass(frozen=True, slots=True)
class RedemptionLine:
    id: str
    provider_id: str
    subsidy_fen: int
    copay_fen: int
    status: str
    claim_id: str | None
    day_on: date
    program_code: str
    budget_region_code: str


@dataclass(frozen=True, slots=True)
class BalanceLine:
    program_code: str
    budget_region_code: str
    balance_fen: int


@dataclass(frozen=True, slots=True)
class CopaymentLine:
    id: str
    redemption_id: str
    method: str
    captured_fen: int
    refunded_fen: int
    payment_intent_id: str | None


@dataclass(frozen=True, slots=True)
class Feed:
    redemptions: list[RedemptionLine]
    balances: list[BalanceLine]
    copayments: list[CopaymentLine]


async def feed(session: AsyncSession, period: str, region_prefix: str) -> Feed:
    r, v, c = Redemption, Voucher, Copayment
    in_period = func.to_char(col(r.day_on), "YYYY-MM") == period
    in_region = col(v.budget_region_code).like(region_prefix + "%")
    redemptions = await session.execute(
        select(
            sql_cast(col(r.id), Text),
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
            sql_cast(func.sum(col(v.balance_fen)), BigInteger),
        )
        .where(in_region)
        .group_by(col(v.program_code), col(v.budget_region_code))
        .order_by(col(v.program_code), col(v.budget_region_code))
    )
    copayments = await session.execute(
        select(
            sql_cast(col(c.id), Text),
            sql_cast(col(c.redemption_id), Text),
            col(c.method),
            col(c.captured_fen),
            col(c.refunded_fen),
            col(c.stripe_payment_intent_id),
        )
        .join(r, col(r.id) == col(c.redemption_id))
        .join(v, col(v.id) == col(r.voucher_id))
        .where(in_period, in_region)
        .order_by(col(c.created_at), col(c.id))
    )
    return Feed(
        redemptions=[RedemptionLine(*row) for row in redemptions],
        balances=[BalanceLine(*row) for row in balances],
        copayments=[CopaymentLine(*row) for row in copayments],
    )
