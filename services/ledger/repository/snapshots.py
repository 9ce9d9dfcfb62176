"""Period balance snapshots (models.BalanceSnapshot): written once per closed period, read by
the trial balance (repository/audit.py) so that it adds up one period's postings at most."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, insert, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import AccountingPeriod, BalanceSnapshot, Posting


async def latest(session: AsyncSession, at_most: str) -> str | None:
    """The latest period at or before `at_most` that has a snapshot (the primary key's
    leading column serves it)."""
    stmt = select(func.max(col(BalanceSnapshot.period))).where(
        col(BalanceSnapshot.period) <= at_most
    )
    found: str | None = await session.scalar(stmt)
    return found


async def taken(session: AsyncSession, period: str) -> bool:
    stmt = select(col(BalanceSnapshot.period)).where(col(BalanceSnapshot.period) == period).limit(1)
    return (await session.scalar(stmt)) is not None


async def closed_without_snapshot(session: AsyncSession) -> list[str]:
    """Closed periods that have no snapshot yet, oldest first."""
    has = select(col(BalanceSnapshot.period)).distinct()
    stmt = (
        select(col(AccountingPeriod.period))
        .where(col(AccountingPeriod.period).not_in(has))
        .order_by(col(AccountingPeriod.period))
    )
    return list((await session.scalars(stmt)).all())


async def take(
    session: AsyncSession,
    period: str,
    previous: str | None,
    since: datetime | None,
    until: datetime,
) -> int:
    """Write `period`'s snapshot: the `previous` snapshot's rows plus the postings dated from
    `since` (its end; None: from the first) until `until` (the end of `period`), summed per
    account and region. Postings without a region are left out (the trial balance never
    counts them). The number of rows written."""
    amount = col(Posting.amount_fen)
    dated = [col(Posting.posted_at) < until, col(Posting.region_code).is_not(None)]
    if since is not None:
        dated.append(col(Posting.posted_at) >= since)
    parts: list[Any] = [
        select(
            col(Posting.account_id).label("account_id"),
            col(Posting.region_code).label("region_code"),
            func.coalesce(func.sum(amount).filter(amount > 0), 0).label("debit_fen"),
            func.coalesce(-func.sum(amount).filter(amount < 0), 0).label("credit_fen"),
        )
        .where(*dated)
        .group_by(col(Posting.account_id), col(Posting.region_code))
    ]
    if previous is not None:
        parts.append(
            select(
                col(BalanceSnapshot.account_id),
                col(BalanceSnapshot.region_code),
                col(BalanceSnapshot.debit_fen),
                col(BalanceSnapshot.credit_fen),
            ).where(col(BalanceSnapshot.period) == previous)
        )
    rows = union_all(*parts).subquery("rows")
    debit = cast(func.sum(rows.c.debit_fen), BigInteger)
    credit = cast(func.sum(rows.c.credit_fen), BigInteger)
    source = select(
        literal(period),
        rows.c.account_id,
        rows.c.region_code,
        debit,
        credit,
        debit - credit,
    ).group_by(rows.c.account_id, rows.c.region_code)
    stmt = insert(BalanceSnapshot).from_select(
        ["period", "account_id", "region_code", "debit_fen", "credit_fen", "balance_fen"],
        source,
    )
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
