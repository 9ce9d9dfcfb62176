"""Budget: what is available per funding source, and the commitments made against it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import Account, Commitment
from services.ledger.service.chart import BUDGET_AVAILABLE


@dataclass(frozen=True, slots=True)
class Available:
    """Budget available to a program at a region: fen per funding source there."""

    region_code: str | None
    by_source: dict[str, int]


async def budget_by_source(
    session: AsyncSession, program_code: str, region_codes: Sequence[str]
) -> Available:
    """The nearest of `region_codes` (most specific first) holding budget accounts for the
    program, and the available fen per funding source there (credit balance of 3001)."""
    stmt = select(
        col(Account.region_code), col(Account.funding_source), -col(Account.balance_fen)
    ).where(
        col(Account.code) == BUDGET_AVAILABLE,
        col(Account.program_code) == program_code,
        col(Account.region_code).in_(list(region_codes)),
    )
    rows = (await session.execute(stmt)).all()
    for region in region_codes:
        found = {source or "": fen for r, source, fen in rows if r == region}
        if found:
            return Available(region, found)
    return Available(None, {})


async def insert_commitment(session: AsyncSession, commitment: Commitment) -> None:
    await session.execute(
        insert(Commitment).values(
            id=commitment.id,
            entry_id=commitment.entry_id,
            idempotency_key=commitment.idempotency_key,
            purpose=commitment.purpose,
            program_code=commitment.program_code,
            region_code=commitment.region_code,
            budget_region_code=commitment.budget_region_code,
            period=commitment.period,
            amount_fen=commitment.amount_fen,
            count=commitment.count,
        )
    )
