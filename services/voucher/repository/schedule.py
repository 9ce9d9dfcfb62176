"""The scheduler's slots (models.ScheduledIssuance): one per program, period and region.

A slot is created once (INSERT ... ON CONFLICT DO NOTHING on its unique key) and claimed by
one statement that picks a claimable row with FOR UPDATE SKIP LOCKED, so two schedulers never
claim the same slot; a claim whose lease lapsed (its scheduler died) is claimable again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.common.ids import new_uuid
from services.common.regions import significant_prefix
from services.voucher.models import IssuanceRun, ScheduledIssuance

S = ScheduledIssuance


def _after(seconds: float) -> ColumnElement[datetime]:
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def ensure_slot(session: AsyncSession, program_code: str, period: str, region: str) -> bool:
    """Create the slot if it does not exist; True when this call created it."""
    created = await session.scalar(
        pg_insert(S)
        .values(id=new_uuid(), program_code=program_code, period=period, region_code=region)
        .on_conflict_do_nothing(constraint="uq_scheduled_issuance_slot")
        .returning(col(S.id))
    )
    return created is not None


async def claim(
    session: AsyncSession,
    *,
    by: str,
    run_id: uuid.UUID,
    lease_s: float,
    max_attempts: int,
    exclude: list[uuid.UUID] | None = None,
) -> ScheduledIssuance | None:
    """Claim one slot that is due, whose claim lapsed, or whose failure is due for a retry
    (`exclude`: the slots this scheduler already tried in this tick)."""
    candidate = (
        select(col(S.id))
        .where(
            col(S.id).not_in(exclude or []),
            or_(
                col(S.status) == "due",
                and_(col(S.status) == "running", col(S.lease_until) < func.now()),
                and_(
                    col(S.status) == "failed",
                    col(S.next_attempt_at) <= func.now(),
                    col(S.attempts) < max_attempts,
                ),
            ),
        )
        .order_by(col(S.created_at), col(S.id))
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return await session.scalar(
        update(S)
        .where(col(S.id) == candidate)
        .values(
            status="running",
            claimed_by=by,
            run_id=run_id,
            lease_until=_after(lease_s),
            attempts=col(S.attempts) + 1,
            updated_at=func.now(),
        )
        .returning(S)
        .execution_options(synchronize_session=False)
    )


async def renew(session: AsyncSession, slot_id: uuid.UUID, by: str, lease_s: float) -> bool:
    result = await session.execute(
        update(S)
        .where(col(S.id) == slot_id, col(S.claimed_by) == by, col(S.status) == "running")
        .values(lease_until=_after(lease_s), updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def finish(
    session: AsyncSession,
    slot_id: uuid.UUID,
    by: str,
    status: str,
    *,
    error: str | None = None,
    retry_after_s: float | None = None,
) -> None:
    """Record how the claim ended (only the scheduler that holds the claim may)."""
    values: dict[str, Any] = {
        "status": status,
        "last_error": error,
        "lease_until": None,
        "updated_at": func.now(),
        "next_attempt_at": None if retry_after_s is None else _after(retry_after_s),
    }
    if status in ("completed", "budget_exhausted"):
        values["finished_at"] = func.now()
    await session.execute(
        update(S)
        .where(col(S.id) == slot_id, col(S.claimed_by) == by)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class SlotRow:
    """A slot with the counts of its latest run (for the officer's page)."""

    id: uuid.UUID
    program_code: str
    period: str
    region_code: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
    run_id: uuid.UUID | None
    run_status: str | None
    eligible: int | None
    issued: int | None
    skipped: int | None
    failed: int | None
    run_message: str | None


async def list_slots(
    session: AsyncSession, *, region_like: str, period: str | None, limit: int = 200
) -> list[SlotRow]:
    """Slots whose region lies in a scope (or whose region contains the scope: a province
    slot concerns every city's officer), newest period first."""
    r = IssuanceRun
    stmt = (
        select(
            col(S.id),
            col(S.program_code),
            col(S.period),
            col(S.region_code),
            col(S.status),
            col(S.attempts),
            col(S.last_error),
            col(S.next_attempt_at),
            col(S.updated_at),
            col(S.finished_at),
            col(S.run_id),
            col(r.status),
            col(r.eligible),
            col(r.issued),
            col(r.skipped),
            col(r.failed),
            col(r.message),
        )
        .outerjoin(r, col(r.id) == col(S.run_id))
        .order_by(col(S.period).desc(), col(S.program_code), col(S.region_code))
        .limit(limit)
    )
    if period is not None:
        stmt = stmt.where(col(S.period) == period)
    rows = (await session.execute(stmt)).all()
    prefix = region_like.rstrip("%")
    out = []
    for row in rows:
        region = row[3]
        if not (region.startswith(prefix) or prefix.startswith(significant_prefix(region))):
            continue
        out.append(SlotRow(*tuple(row)))
    return out
