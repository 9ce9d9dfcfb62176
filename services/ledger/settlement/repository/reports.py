"""SQL of settlement reports: provider statements and aging (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, cast, distinct, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.service import chart
from services.ledger.settlement.models import Claim
from services.ledger.settlement.repository import RECOVERY_KINDS, on_account
from services.ledger.settlement.repository.reconciliation import EXPLAINED_KINDS

COPAY_SOURCE = "copay"  # the funding source of online co-payments on provider payable


@dataclass(frozen=True, slots=True)
class PayableMovements:
    """A provider's payable (2201) before a period and its movements in the period, by the
    kind of entry, as positive amounts owed / reducing what is owed."""

    opening: int
    redemptions: int
    voids: int
    payments: int
    copay_received: int
    copay_refunded: int
    copay_paid: int
    recoveries: int
    other: int
    copay_closing: int
    closing: int
    regions: list[str]


@dataclass(frozen=True, slots=True)
class UnpaidClaim:
    """An approved (or batched, not yet paid) claim and the whole days it has waited."""

    provider_id: str
    region_codes: list[str]
    total_fen: int
    copay_fen: int
    days: int


async def payable_movements(
    session: AsyncSession, provider_id: str, period: str
) -> PayableMovements:
    amount = col(Posting.amount_fen)
    in_period = col(Posting.period) == period
    kind = col(Entry.kind)

    def owed(*where: Any) -> Any:  # credits to payable, as positive amounts owed
        return func.coalesce(-func.sum(amount).filter(and_(*where)), 0)

    def settled(*where: Any) -> Any:  # debits to payable, as positive amounts
        return func.coalesce(func.sum(amount).filter(and_(*where)), 0)

    stmt = (
        select(
            owed(col(Posting.period) < period),
            owed(in_period, kind == "redemption"),
            settled(in_period, kind == "redemption_void"),
            settled(in_period, kind == "settlement_payment"),
            owed(in_period, kind == "copay_received"),
            settled(in_period, kind == "copay_refunded"),
            settled(
                in_period,
                kind == "settlement_payment",
                col(Account.funding_source) == COPAY_SOURCE,
            ),
            settled(in_period, kind.in_(RECOVERY_KINDS)),
            owed(in_period, kind.not_in(EXPLAINED_KINDS)),
            owed(col(Posting.period) <= period, col(Account.funding_source) == COPAY_SOURCE),
            owed(col(Posting.period) <= period),
            func.array_agg(distinct(col(Account.region_code))),
        )
        .select_from(Posting)
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .join(Entry, col(Entry.id) == col(Posting.entry_id))
        .where(col(Account.provider_id) == provider_id)
    )
    row = (await session.execute(stmt)).one()
    amounts = [int(a) for a in row[:-1]]
    return PayableMovements(
        opening=amounts[0],
        redemptions=amounts[1],
        voids=amounts[2],
        payments=amounts[3],
        copay_received=amounts[4],
        copay_refunded=amounts[5],
        copay_paid=amounts[6],
        recoveries=amounts[7],
        other=amounts[8],
        copay_closing=amounts[9],
        closing=amounts[10],
        regions=[r for r in row[-1] or [] if r],
    )


async def unpaid_approved(session: AsyncSession) -> list[UnpaidClaim]:
    """Approved (or batched, not yet paid) claims with how many days they have waited."""
    waited = func.clock_timestamp() - col(Claim.approved_at)
    stmt = select(
        col(Claim.provider_id),
        col(Claim.region_codes),
        col(Claim.total_fen),
        col(Claim.copay_fen),
        cast(func.floor(extract("epoch", waited) / 86400), Integer),
    ).where(col(Claim.status).in_(("approved", "batched")))
    return [
        UnpaidClaim(provider, list(regions), int(total), int(copay), days)
        for provider, regions, total, copay, days in await session.execute(stmt)
    ]
