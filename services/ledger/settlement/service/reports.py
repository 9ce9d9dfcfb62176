"""Provider statements and aging of approved-but-unpaid claims.

Statement rule: closing = opening + redemptions - voids + co-payments received - co-payments
refunded - payments (+ other corrections, e.g. a manual reversal), all from the
provider-payable (2201) postings of the ledger, so for the current period the closing equals
the accounts' balance. Of the payments, `copay_paid` is the co-payment part; of the closing,
`copay_closing` is online co-payments still owed (cash ones are never in the ledger).
Aging rule (aging.py): each approved (or batched) unpaid claim is counted in the bucket of
the days it has waited since approval; `copay_fen` is the co-payment part of what waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.ledger.settlement.repository import reports as repo
from services.ledger.settlement.schemas import (
    AgingProvider,
    AgingRead,
    AgingTotals,
    StatementRead,
)
from services.ledger.settlement.service.aging import bucket_of


async def statement(
    session: AsyncSession, provider_id: str, period: str, who: Principal
) -> StatementRead:
    m = await repo.payable_movements(session, provider_id, period)
    if who.role.value in ("finance", "auditor"):
        for r in m.regions:  # a provider with no postings yet shows zeros to anyone asking
            who.ensure_region(r)
    assert m.closing == (
        m.opening
        + m.redemptions
        - m.voids
        + m.copay_received
        - m.copay_refunded
        - m.payments
        - m.recoveries
        + m.other
    )
    return StatementRead(
        provider_id=provider_id,
        period=period,
        opening_fen=m.opening,
        redemptions_fen=m.redemptions,
        voids_fen=m.voids,
        copay_received_fen=m.copay_received,
        copay_refunded_fen=m.copay_refunded,
        payments_fen=m.payments,
        copay_paid_fen=m.copay_paid,
        recoveries_fen=m.recoveries,
        other_fen=m.other,
        closing_fen=m.closing,
        copay_closing_fen=m.copay_closing,
    )


async def aging(session: AsyncSession, covers: Callable[[Sequence[str]], bool]) -> AgingRead:
    """Unpaid approved claims by provider and bucket; `covers(regions)` says whether the
    caller covers a claim's regions (claims it does not are left out)."""
    providers: dict[str, AgingProvider] = {}
    totals = AgingTotals({"0_30_fen": 0, "31_60_fen": 0, "61_90_fen": 0, "over_90_fen": 0})
    for r in await repo.unpaid_approved(session):
        if not covers(r.region_codes):
            continue
        p = providers.setdefault(
            r.provider_id,
            AgingProvider(
                {
                    "provider_id": r.provider_id,
                    "oldest_days": 0,
                    "total_fen": 0,
                    "copay_fen": 0,
                    "0_30_fen": 0,
                    "31_60_fen": 0,
                    "61_90_fen": 0,
                    "over_90_fen": 0,
                }
            ),
        )
        b = bucket_of(r.days)
        p[b] += r.total_fen
        p["total_fen"] += r.total_fen
        p["copay_fen"] += r.copay_fen
        p["oldest_days"] = max(p["oldest_days"], r.days)
        totals[b] += r.total_fen
    return AgingRead(
        providers=sorted(providers.values(), key=lambda p: -p["oldest_days"]), totals=totals
    )
