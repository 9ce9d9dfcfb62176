"""Receipts, their history, disputes and home visits (SQLAlchemy on `Redemption`,
`RedemptionItem`, `RedemptionHistory`, `Dispute`, `Visit`): the cold path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import (
    Beneficiary,
    Dispute,
    Redemption,
    RedemptionHistory,
    RedemptionItem,
    UsedNonce,
    Visit,
    Voucher,
)


async def redemption(
    session: AsyncSession, redemption_id: uuid.UUID, *, lock: bool = False
) -> Redemption | None:
    """The redemption (locked FOR UPDATE when `lock`: a confirmation or dispute of it waits
    for another one in flight, so "once" is decided in order)."""
    stmt = select(Redemption).where(col(Redemption.id) == redemption_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def items(session: AsyncSession, redemption_id: uuid.UUID) -> list[RedemptionItem]:
    result = await session.scalars(
        select(RedemptionItem)
        .where(col(RedemptionItem.redemption_id) == redemption_id)
        .order_by(col(RedemptionItem.line))
    )
    return list(result)


async def program_code(session: AsyncSession, voucher_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(col(Voucher.program_code)).where(col(Voucher.id) == voucher_id)
    )


async def history(session: AsyncSession, redemption_id: uuid.UUID) -> list[RedemptionHistory]:
    result = await session.scalars(
        select(RedemptionHistory)
        .where(col(RedemptionHistory.redemption_id) == redemption_id)
        .order_by(col(RedemptionHistory.id))
    )
    return list(result)


async def add_history(
    session: AsyncSession,
    *,
    redemption_id: uuid.UUID,
    kind: str,
    actor: str,
    actor_role: str,
    at: datetime,
    reason: str | None = None,
    decision: str | None = None,
    dispute_id: uuid.UUID | None = None,
) -> None:
    await session.execute(
        insert(RedemptionHistory).values(
            redemption_id=redemption_id,
            dispute_id=dispute_id,
            kind=kind,
            actor=actor,
            actor_role=actor_role,
            at=at,
            reason=reason,
            decision=decision,
        )
    )


async def dispute_of(session: AsyncSession, redemption_id: uuid.UUID) -> Dispute | None:
    return await session.scalar(
        select(Dispute)
        .where(col(Dispute.redemption_id) == redemption_id)
        .execution_options(populate_existing=True)
    )


# A dispute no officer has answered yet (first, or on appeal): its redemption is not paid.
UNANSWERED = ("open", "appealed")


async def unanswered_of(
    session: AsyncSession, redemption_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Of these redemptions, those disputed and not answered yet."""
    return list(
        await session.scalars(
            select(col(Dispute.redemption_id)).where(
                col(Dispute.redemption_id).in_(list(redemption_ids)),
                col(Dispute.status).in_(UNANSWERED),
            )
        )
    )


async def dispute(
    session: AsyncSession, dispute_id: uuid.UUID, *, lock: bool = False
) -> Dispute | None:
    stmt = select(Dispute).where(col(Dispute.id) == dispute_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def insert_dispute(session: AsyncSession, row: Dispute) -> None:
    session.add(row)
    await session.flush()


async def update_dispute(session: AsyncSession, dispute_id: uuid.UUID, **values: object) -> None:
    await session.execute(
        update(Dispute)
        .where(col(Dispute.id) == dispute_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def disputes(
    session: AsyncSession, region_prefix: str, statuses: Sequence[str], limit: int
) -> list[Dispute]:
    """Disputes of people in the region (and its sub-regions), the most urgent first."""
    stmt = select(Dispute).where(col(Dispute.region_code).startswith(region_prefix))
    if statuses:
        stmt = stmt.where(col(Dispute.status).in_(list(statuses)))
    due = func.coalesce(col(Dispute.appeal_due_at), col(Dispute.due_at))
    stmt = stmt.order_by(due, col(Dispute.id)).limit(limit)
    return list(await session.scalars(stmt))


async def visit(session: AsyncSession, visit_id: uuid.UUID, *, lock: bool = False) -> Visit | None:
    stmt = select(Visit).where(col(Visit.id) == visit_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def insert_visit(session: AsyncSession, row: Visit) -> None:
    session.add(row)
    await session.flush()


async def check_out_visit(session: AsyncSession, visit_id: uuid.UUID, **values: object) -> None:
    await session.execute(
        update(Visit)
        .where(col(Visit.id) == visit_id)
        .values(status="completed", **values)
        .execution_options(synchronize_session=False)
    )


async def visit_in_use(session: AsyncSession, visit_id: uuid.UUID) -> bool:
    """Whether a live (not voided) redemption already bills this visit."""
    found = await session.scalar(
        select(col(Redemption.id)).where(
            col(Redemption.visit_id) == visit_id, col(Redemption.status) == "completed"
        )
    )
    return found is not None


async def visit_subject(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> tuple[str, float | None, float | None, bool] | None:
    """The visited person's status and registered location (lat, lon, approximate)."""
    row = (
        await session.execute(
            select(
                col(Beneficiary.status),
                col(Beneficiary.lat),
                col(Beneficiary.lon),
                col(Beneficiary.location_approximate),
            ).where(col(Beneficiary.id) == beneficiary_id)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def use_nonce(session: AsyncSession, nonce: bytes, expires_at: datetime) -> None:
    """Record a dynamic code's nonce as used (IntegrityError when it already was)."""
    await session.execute(insert(UsedNonce).values(nonce=nonce, expires_at=expires_at))


async def provider_visits(
    session: AsyncSession,
    provider_id: str,
    status: str,
    unbilled: bool,
    since: datetime,
    limit: int,
) -> list[Visit]:
    """A provider's visits since a moment, newest first: open ones (to check out) or
    completed ones (with `unbilled`: not yet billed by a live redemption)."""
    stmt = select(Visit).where(
        col(Visit.provider_id) == provider_id,
        col(Visit.status) == status,
        col(Visit.checked_in_at) >= since,
    )
    if unbilled:
        billed = select(col(Redemption.visit_id)).where(
            col(Redemption.visit_id).is_not(None), col(Redemption.status) == "completed"
        )
        stmt = stmt.where(col(Visit.id).not_in(billed))
    stmt = stmt.order_by(col(Visit.checked_in_at).desc(), col(Visit.id)).limit(limit)
    return list(await session.scalars(stmt))


async def reviews_of(
    session: AsyncSession, redemption_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Which of these redemptions were confirmed or disputed (one query for a list)."""
    if not redemption_ids:
        return {}
    rows = await session.execute(
        select(col(RedemptionHistory.redemption_id), col(RedemptionHistory.kind)).where(
            col(RedemptionHistory.redemption_id).in_(list(redemption_ids)),
            col(RedemptionHistory.kind).in_(["confirmed", "disputed"]),
        )
    )
    return {r[0]: r[1] for r in rows}
