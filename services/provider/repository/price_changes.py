"""Price list changes that raise what public money pays: asked by a provider's admin,
decided by an officer (service/price_review.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import PriceListChange, Provider
from services.provider.service.vocabulary import ProviderStatus

PENDING = "pending"


async def supersede_pending(session: AsyncSession, provider_id: uuid.UUID) -> None:
    """The provider's pending change (if any) gives way to a newer list."""
    await session.execute(
        update(PriceListChange)
        .where(
            col(PriceListChange.provider_id) == provider_id,
            col(PriceListChange.status) == PENDING,
        )
        .values(status="superseded", decided_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def insert_change(
    session: AsyncSession,
    *,
    change_id: uuid.UUID,
    provider_id: uuid.UUID,
    services: list[Any],
    raises: list[str],
    requested_by: str,
) -> None:
    await session.execute(
        insert(PriceListChange).values(
            id=change_id,
            provider_id=provider_id,
            services=services,
            raises=raises,
            requested_by=requested_by,
        )
    )


async def changes_of(session: AsyncSession, provider_id: uuid.UUID) -> list[PriceListChange]:
    """The provider's price list changes, newest first."""
    result = await session.execute(
        select(PriceListChange)
        .where(col(PriceListChange.provider_id) == provider_id)
        .order_by(col(PriceListChange.requested_at).desc(), col(PriceListChange.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def get_change(
    session: AsyncSession, provider_id: uuid.UUID, change_id: uuid.UUID, *, lock: bool = False
) -> PriceListChange | None:
    """One of the provider's changes (FOR UPDATE with `lock`), as it is now."""
    stmt = (
        select(PriceListChange)
        .where(
            col(PriceListChange.id) == change_id, col(PriceListChange.provider_id) == provider_id
        )
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class PendingChange:
    change: PriceListChange
    provider: Provider


async def pending_in_region(
    session: AsyncSession, region_prefix: str | None, limit: int
) -> list[PendingChange]:
    """Pending changes of providers (not revoked) in a region, all with no prefix; oldest
    request first."""
    stmt = (
        select(PriceListChange, Provider)
        .join(Provider, col(Provider.id) == col(PriceListChange.provider_id))
        .where(
            col(PriceListChange.status) == PENDING,
            col(Provider.status) != ProviderStatus.revoked.value,
        )
        .order_by(col(PriceListChange.requested_at), col(PriceListChange.id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if region_prefix is not None:
        stmt = stmt.where(col(Provider.region_code).startswith(region_prefix, autoescape=True))
    return [PendingChange(c, p) for c, p in await session.execute(stmt)]


async def decide(
    session: AsyncSession, change_id: uuid.UUID, status: str, actor: str, reason: str | None
) -> None:
    await session.execute(
        update(PriceListChange)
        .where(col(PriceListChange.id) == change_id)
        .values(status=status, decided_by=actor, decided_at=func.now(), reason=reason)
        .execution_options(synchronize_session=False)
    )
