"""The status history and the credit record (both append-only)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import CreditEvent, ProviderStatusChange


async def insert_status_change(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    reason: str,
    actor: str,
    automatic: bool = False,
) -> None:
    await session.execute(
        insert(ProviderStatusChange).values(
            provider_id=provider_id,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            actor=actor,
            automatic=automatic,
        )
    )


async def status_history(
    session: AsyncSession, provider_id: uuid.UUID
) -> list[ProviderStatusChange]:
    """Every status the provider had, oldest first."""
    result = await session.execute(
        select(ProviderStatusChange)
        .where(col(ProviderStatusChange.provider_id) == provider_id)
        .order_by(col(ProviderStatusChange.id))
    )
    return list(result.scalars())


async def last_reasons(
    session: AsyncSession, provider_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The reason of each provider's latest status change."""
    if not provider_ids:
        return {}
    latest = (
        select(func.max(col(ProviderStatusChange.id)))
        .where(col(ProviderStatusChange.provider_id).in_(provider_ids))
        .group_by(col(ProviderStatusChange.provider_id))
    )
    result = await session.execute(
        select(col(ProviderStatusChange.provider_id), col(ProviderStatusChange.reason)).where(
            col(ProviderStatusChange.id).in_(latest)
        )
    )
    return {row[0]: row[1] for row in result.all()}


async def insert_credit_event(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    kind: str,
    points: int,
    reason: str,
    actor: str,
    source_ref: str | None = None,
) -> bool:
    """Append the event; False when an event with this `source_ref` (what caused it, e.g. an
    alert) is already on the provider's record, which then stays as it is (a retried or
    repeated confirmation counts once: the partial unique index `uq_credit_event_source`)."""
    result = await session.execute(
        pg_insert(CreditEvent)
        .values(
            provider_id=provider_id,
            kind=kind,
            points=points,
            reason=reason,
            actor=actor,
            source_ref=source_ref,
        )
        .on_conflict_do_nothing(
            index_elements=["provider_id", "source_ref"],
            index_where=col(CreditEvent.source_ref).is_not(None),
        )
        .returning(col(CreditEvent.id))
    )
    return result.scalar_one_or_none() is not None


async def credit_events(session: AsyncSession, provider_id: uuid.UUID) -> list[CreditEvent]:
    """The provider's credit record, oldest first."""
    result = await session.execute(
        select(CreditEvent)
        .where(col(CreditEvent.provider_id) == provider_id)
        .order_by(col(CreditEvent.id))
    )
    return list(result.scalars())
