"""Balance snapshots: what lets the trial balance as of any date add up at most one
snapshot interval of postings, however long the journal (docs/ledger.md "Balance
snapshots").

A snapshot at instant U holds, per account and posting region, the totals of every posting
dated before U. It is exact and final once every book's head has been held at or after U:
an entry's date is the database's clock when its writer held its book's head (never before
the book's last entry), so every entry dated before U was written by a transaction that held
the head before us and has committed, and every later one is dated after U. The period close
writes one at the period's end (it holds every head; the period has ended). The snapshot job
(`take_due`) holds every head for an instant (`barrier`), then writes one at the start of
each day (Asia/Shanghai) since the last, each from the one before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, raw_connection
from services.ledger.repository import audit as audit_repo
from services.ledger.repository import posting
from services.ledger.repository import snapshots as repo
from services.ledger.service.clock import TZ

log = logging.getLogger("yiyang.ledger.snapshots")


def period_start(period: str) -> datetime:
    """The first instant of a period 'YYYY-MM' (Asia/Shanghai)."""
    year, month = int(period[:4]), int(period[5:7])
    return datetime(year, month, 1, tzinfo=TZ)


def period_end(period: str) -> datetime:
    """The first instant after the period."""
    year, month = int(period[:4]), int(period[5:7])
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=TZ)


def day_start(moment: datetime) -> datetime:
    local = moment.astimezone(TZ)
    return datetime(local.year, local.month, local.day, tzinfo=TZ)


async def take(session: AsyncSession, until: datetime, clock: datetime) -> int:
    """Write the snapshot at `until` (from the latest one before it) unless it exists; every
    head was held at `clock`. Rows written; none when `until` is after `clock` (postings
    dated before it may still come: the job takes it later)."""
    if until > clock or await repo.exists_at(session, until):
        return 0
    previous = await repo.latest(session, until - timedelta(microseconds=1))
    return await repo.take(session, until, previous, clock)


async def barrier(db: Database) -> datetime:
    """Hold every book's head for an instant: when this returns, every entry dated before the
    returned clock is committed, and no later entry will be dated before it."""
    async with db.unit_of_work() as session:
        await session.execute(select(literal(1)))  # the unit of work's transaction begins
        conn = await raw_connection(session)
        heads = await posting.lock_all_heads(conn)
        clock = min((h.now for h in heads.values()), default=None)
    return clock if clock is not None else datetime.now(TZ)


async def take_due(db: Database, *, limit_days: int | None = None) -> list[datetime]:
    """The snapshot job: a snapshot at the start of every day (Asia/Shanghai) since the last
    one (or the first posting) up to today, each in its own unit of work; the instants
    written."""
    clock = await barrier(db)
    async with db.unit_of_work() as session:
        last = await repo.latest(session, clock)
        first = await repo.first_posting(session)
    if first is None:
        return []
    at = day_start(last if last is not None else first) + timedelta(days=1)  # no DST there
    done: list[datetime] = []
    while at <= clock and (limit_days is None or len(done) < limit_days):
        async with db.unit_of_work() as session:
            await take(session, at, clock)
        done.append(at)
        at += timedelta(days=1)
    return done


async def snapshot_forever(db: Database, interval_s: float) -> None:
    """The snapshot job in the ledger process: `take_due` every `interval_s`, and the event
    tally folded (repository/audit.py `fold_event_tally`), logging instead of raising
    (several processes may run it: a snapshot is written once, a tally row folded once)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with db.unit_of_work() as session:
                await audit_repo.fold_event_tally(session)
            taken = await take_due(db)
            if taken:
                log.info("balance snapshots taken up to %s", taken[-1].isoformat())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("balance snapshots not taken: %s", exc)
