"""Balance snapshots (models.BalanceSnapshot): written by the period close and the snapshot
job (service/snapshots.py), read by the trial balance (repository/audit.py) so that it adds
up the postings of at most one snapshot interval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime
from sqlmodel import col

from services.ledger.models import BalanceSnapshot, Posting


async def latest(session: AsyncSession, at_most: datetime) -> datetime | None:
    """The latest snapshot instant at or before `at_most` (the primary key's leading column
    serves it)."""
    stmt = select(func.max(col(BalanceSnapshot.until))).where(col(BalanceSnapshot.until) <= at_most)
    found: datetime | None = await session.scalar(stmt)
    return found


async def exists_at(session: AsyncSession, until: datetime) -> bool:
    stmt = select(col(BalanceSnapshot.until)).where(col(BalanceSnapshot.until) == until).limit(1)
    return (await session.scalar(stmt)) is not None


async def first_posting(session: AsyncSession) -> datetime | None:
    """The date of the earliest posting (the BRIN index narrows the scan)."""
    found: datetime | None = await session.scalar(select(func.min(col(Posting.posted_at))))
    return found


async def take(
    session: AsyncSession, until: datetime, previous: datetime | None, clock: datetime
) -> int:
    """Write the snapshot at `until`: the `previous` snapshot's rows (None: none) plus the
    postings dated from `previous` to before `until`, summed per account and region. Postings
    without a region are left out (the trial balance never counts them). `clock` is when every
    book's head was last held (service/snapshots.py `barrier`): `until` must not pass it. The
    number of rows written."""
    if until > clock:
        raise ValueError("a snapshot cannot cover postings that may still be written")
    amount = col(Posting.amount_fen)
    dated = [col(Posting.posted_at) < until, col(Posting.region_code).is_not(None)]
    if previous is not None:
        dated.append(col(Posting.posted_at) >= previous)
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
            ).where(col(BalanceSnapshot.until) == previous)
        )
    rows = union_all(*parts).subquery("rows")
    debit = cast(func.sum(rows.c.debit_fen), BigInteger)
    credit = cast(func.sum(rows.c.credit_fen), BigInteger)
    source = select(
        literal(until, DateTime(timezone=True)),
        rows.c.account_id,
        rows.c.region_code,
        debit,
        credit,
        debit - credit,
    ).group_by(rows.c.account_id, rows.c.region_code)
    # Two processes taking the same snapshot: the second waits for the first and adds nothing.
    stmt = (
        insert(BalanceSnapshot)
        .from_select(
            ["until", "account_id", "region_code", "debit_fen", "credit_fen", "balance_fen"],
            source,
        )
        .on_conflict_do_nothing()
    )
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
