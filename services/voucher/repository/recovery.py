"""SQL of recoveries (SQLAlchemy on `Recovery`, with the voucher a recovery may restore).
The guard triggers of migrations/sql/recovery_guard.sql hold what a recovery may be."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Recovery, Voucher


@dataclass(frozen=True, slots=True)
class VoucherTerms:
    """A voucher's status, window and what every ledger event of it carries."""

    id: uuid.UUID
    status: str
    valid_until: datetime
    program_code: str
    period: str
    region_code: str
    budget_region_code: str
    funding_shares: dict[str, int]


async def lock_voucher(session: AsyncSession, voucher_id: uuid.UUID) -> VoucherTerms:
    v = Voucher
    row = (
        await session.execute(
            select(
                col(v.id),
                col(v.status),
                col(v.valid_until),
                col(v.program_code),
                col(v.period),
                col(v.region_code),
                col(v.budget_region_code),
                col(v.funding_shares),
            )
            .where(col(v.id) == voucher_id)
            .with_for_update()
        )
    ).one()
    return VoucherTerms(*row)


async def by_redemption(session: AsyncSession, redemption_id: uuid.UUID) -> Recovery | None:
    recovery: Recovery | None = await session.scalar(
        select(Recovery).where(col(Recovery.redemption_id) == redemption_id)
    )
    return recovery


async def of_redemptions(
    session: AsyncSession, redemption_ids: Sequence[uuid.UUID]
) -> list[Recovery]:
    return list(
        await session.scalars(
            select(Recovery).where(col(Recovery.redemption_id).in_(list(redemption_ids)))
        )
    )


async def insert_recovery(session: AsyncSession, recovery: Recovery) -> None:
    """Insert the row (a statement, not the session's unit of work: the guard trigger sees
    it at once)."""
    await session.execute(insert(Recovery).values(recovery.model_dump(exclude_unset=False)))


async def list_recoveries(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID | None = None,
    provider_id: str | None = None,
    limit: int = 500,
) -> list[Recovery]:
    stmt = select(Recovery)
    if alert_id is not None:
        stmt = stmt.where(col(Recovery.alert_id) == alert_id)
    if provider_id is not None:
        stmt = stmt.where(col(Recovery.provider_id) == provider_id)
    stmt = stmt.order_by(col(Recovery.created_at), col(Recovery.id)).limit(limit)
    return list(await session.scalars(stmt))
