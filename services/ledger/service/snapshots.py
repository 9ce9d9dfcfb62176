"""Period balance snapshots: what a closed period leaves behind so that the trial balance as
of any date adds up at most one period's postings (docs/ledger.md "Balance snapshots").

A snapshot of period P holds, per account and posting region, the totals of every posting
dated before the end of P (the first instant of the next month, Asia/Shanghai: a posting's
period is its date's month there). It is exact and final once P is closed: the database
refuses entries dated in a closed period, and a book's clock never goes back, so no posting
dated before the end of P can come later. The close writes it (service/periods.py) under
every book's head lock; `snapshot_closed` writes those missing (periods closed before
snapshots existed).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.ledger.repository import snapshots as repo

TZ = ZoneInfo("Asia/Shanghai")


def period_start(period: str) -> datetime:
    """The first instant of a period 'YYYY-MM' (Asia/Shanghai)."""
    year, month = int(period[:4]), int(period[5:7])
    return datetime(year, month, 1, tzinfo=TZ)


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def previous_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def period_end(period: str) -> datetime:
    """The first instant after the period: where its snapshot ends."""
    return period_start(next_period(period))


def period_of(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m")


def last_covered_by(as_of: datetime) -> str:
    """The latest period whose snapshot lies wholly at or before `as_of`."""
    return previous_period(period_of(as_of))


async def take(session: AsyncSession, period: str) -> int:
    """Write `period`'s snapshot (from the latest one before it); the caller has closed the
    period and holds every book's head. Rows written."""
    previous = await repo.latest(session, previous_period(period))
    since = None if previous is None else period_end(previous)
    return await repo.take(session, period, previous, since, period_end(period))


async def snapshot_closed(db: Database) -> list[str]:
    """Snapshot every closed period that has none yet, oldest first (each in its own unit of
    work); the periods snapshotted."""
    async with db.unit_of_work() as session:
        missing = await repo.closed_without_snapshot(session)
    for period in missing:
        async with db.unit_of_work() as session:
            if not await repo.taken(session, period):
                await take(session, period)
    return missing
