"""Closed accounting periods (the chain trigger refuses entries dated in one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import AccountingPeriod


async def is_closed(session: AsyncSession, period: str) -> bool:
    stmt = select(col(AccountingPeriod.period)).where(col(AccountingPeriod.period) == period)
    return (await session.scalar(stmt)) is not None


async def close(session: AsyncSession, period: str, closed_by: str) -> datetime:
    """Close `period`; when it was closed (the database's clock)."""
    stmt = (
        insert(AccountingPeriod)
        .values(period=period, closed_by=closed_by)
        .returning(col(AccountingPeriod.closed_at))
    )
    closed_at = (await session.execute(stmt)).scalar_one()
    assert closed_at is not None  # NOT NULL, default now()
    return closed_at
