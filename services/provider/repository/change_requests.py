"""Changes a provider's admin asks for and an officer decides -- a settlement bank account
(`BankAccountChange`), a price list that raises prices (`PriceListChange`): the same rows'
life (pending, then approved, rejected or superseded) over either table."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import BankAccountChange, PriceListChange, Provider
from services.provider.service.vocabulary import ProviderStatus

PENDING = "pending"
Change = TypeVar("Change", BankAccountChange, PriceListChange)


async def supersede_pending(
    session: AsyncSession, table: type[Change], provider_id: uuid.UUID
) -> None:
    """The provider's pending change (if any; a unique index allows one) gives way to a
    newer request."""
    await session.execute(
        update(table)
        .where(col(table.provider_id) == provider_id, col(table.status) == PENDING)
        .values(status="superseded", decided_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def changes_of(
    session: AsyncSession, table: type[Change], provider_id: uuid.UUID
) -> list[Change]:
    """The provider's changes, newest first."""
    result = await session.execute(
        select(table)
        .where(col(table.provider_id) == provider_id)
        .order_by(col(table.requested_at).desc(), col(table.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def pending_of(
    session: AsyncSession, table: type[Change], provider_id: uuid.UUID
) -> Change | None:
    result = await session.execute(
        select(table)
        .where(col(table.provider_id) == provider_id, col(table.status) == PENDING)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def get_change(
    session: AsyncSession,
    table: type[Change],
    provider_id: uuid.UUID,
    change_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Change | None:
    """One of the provider's changes (FOR UPDATE with `lock`), as it is now."""
    stmt = (
        select(table)
        .where(col(table.id) == change_id, col(table.provider_id) == provider_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_in_region(
    session: AsyncSession, table: type[Change], region_prefix: str | None, limit: int
) -> list[tuple[Change, Provider]]:
    """Pending changes of providers (not revoked) in a region, all with no prefix; oldest
    request first; each with its provider."""
    stmt = (
        select(table, Provider)
        .join(Provider, col(Provider.id) == col(table.provider_id))
        .where(col(table.status) == PENDING, col(Provider.status) != ProviderStatus.revoked.value)
        .order_by(col(table.requested_at), col(table.id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if region_prefix is not None:
        stmt = stmt.where(col(Provider.region_code).startswith(region_prefix, autoescape=True))
    return [(change, provider) for change, provider in await session.execute(stmt)]


async def decide(
    session: AsyncSession,
    table: type[Change],
    change_id: uuid.UUID,
    status: str,
    actor: str,
    reason: str | None,
) -> None:
    """Record the decision (approved or rejected); the table's CHECKs refuse the asker and
    a decision without its decider."""
    await session.execute(
        update(table)
        .where(col(table.id) == change_id)
        .values(status=status, decided_by=actor, decided_at=func.now(), reason=reason)
        .execution_options(synchronize_session=False)
    )
