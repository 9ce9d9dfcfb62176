"""The dashboard's summaries (docs/dashboard.md "Summaries"): the summariser's cursor over the
outbox, the redemption and void events after it, and the upsert of their sums into
`summary_use`. Enrolment and issuance are summed by statement triggers on `beneficiary` and
on INSERT into `voucher` (migrations/sql/dashboard_summaries.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Outbox, SummaryCursor, SummaryUse

SUMMARY_EVENTS = ("redemption.created", "redemption.voided")


@dataclass(frozen=True, slots=True)
class UseEvent:
    id: int
    type: str
    region_code: str
    program_code: str
    period: str
    subsidy_fen: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class UseDelta:
    region_code: str
    program_code: str
    period: str
    redemptions: int
    redeemed_fen: int


async def lock_cursor(session: AsyncSession, name: str, *, wait: bool = True) -> int | None:
    """The summariser's position, its row locked for this transaction (summarisers take
    turns). With `wait=False`, None when another summariser holds it now."""
    await session.execute(
        pg_insert(SummaryCursor)
        .values(name=name, last_outbox_id=0)
        .on_conflict_do_nothing(index_elements=[col(SummaryCursor.name)])
    )
    stmt = select(col(SummaryCursor.last_outbox_id)).where(col(SummaryCursor.name) == name)
    stmt = stmt.with_for_update() if wait else stmt.with_for_update(skip_locked=True)
    value = (await session.execute(stmt)).first()
    return None if value is None else int(value[0])


async def set_cursor(session: AsyncSession, name: str, last_outbox_id: int) -> None:
    await session.execute(
        update(SummaryCursor)
        .where(col(SummaryCursor.name) == name)
        .values(last_outbox_id=last_outbox_id, updated_at=func.now())
    )


async def events_after(session: AsyncSession, after_id: int, limit: int) -> list[UseEvent]:
    """Redemption and void events of the outbox after `after_id`, in id order (delivered or
    not: the summariser reads the stream, it does not consume it)."""
    p = col(Outbox.payload)
    rows = await session.execute(
        select(
            col(Outbox.id),
            col(Outbox.type),
            p["region_code"].astext,
            p["program_code"].astext,
            p["period"].astext,
            cast(p["subsidy_fen"].astext, BigInteger),
            col(Outbox.occurred_at),
        )
        .where(col(Outbox.id) > after_id, col(Outbox.type).in_(SUMMARY_EVENTS))
        .order_by(col(Outbox.id))
        .limit(limit)
    )
    return [UseEvent(int(i), t, r, c, pe, int(f), at) for i, t, r, c, pe, f, at in rows]


async def latest_event_id(session: AsyncSession) -> int:
    """The newest redemption or void event's id (0 when none): how far behind a cursor is."""
    value = await session.scalar(
        select(col(Outbox.id))
        .where(col(Outbox.type).in_(SUMMARY_EVENTS))
        .order_by(col(Outbox.id).desc())
        .limit(1)
    )
    return int(value or 0)


async def add_use(session: AsyncSession, deltas: list[UseDelta]) -> None:
    """Add redemptions (count, subsidy) to their summary rows, in key order (two writers
    never wait on each other in a circle)."""
    if not deltas:
        return
    rows = [
        {
            "region_code": d.region_code,
            "program_code": d.program_code,
            "period": d.period,
            "redemptions": d.redemptions,
            "redeemed_fen": d.redeemed_fen,
        }
        for d in sorted(deltas, key=lambda d: (d.region_code, d.program_code, d.period))
    ]
    stmt = pg_insert(SummaryUse).values(rows)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                col(SummaryUse.region_code),
                col(SummaryUse.program_code),
                col(SummaryUse.period),
            ],
            set_={
                "redemptions": col(SummaryUse.redemptions) + stmt.excluded.redemptions,
                "redeemed_fen": col(SummaryUse.redeemed_fen) + stmt.excluded.redeemed_fen,
            },
        )
    )
