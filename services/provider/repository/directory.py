"""The directory version counter, and the feed of changes the voucher service polls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import DirectoryCounter, Provider, Terminal

# The counter's one row (a CHECK keeps it the only one).
_COUNTER_ID = 1


async def next_version(session: AsyncSession) -> int:
    """Increment the one counter row and return the new directory version. Its row lock is
    held to COMMIT: take it after the provider row (see the package docstring)."""
    result = await session.execute(
        update(DirectoryCounter)
        .where(col(DirectoryCounter.id) == _COUNTER_ID)
        .values(version=col(DirectoryCounter.version) + 1, changed_at=func.now())
        .returning(col(DirectoryCounter.version))
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one()


async def current_version(session: AsyncSession) -> int:
    result = await session.execute(
        select(col(DirectoryCounter.version)).where(col(DirectoryCounter.id) == _COUNTER_ID)
    )
    return result.scalar_one()


@dataclass(frozen=True, slots=True)
class ListedProvider:
    """What the feed tells about a provider (never its contact or settlement account)."""

    id: uuid.UUID
    name: str
    kind: str
    status: str
    region_code: str
    lat: float
    lon: float
    price_list_version: int


async def providers_changed_since(session: AsyncSession, since: int) -> list[ListedProvider]:
    result = await session.execute(
        select(
            col(Provider.id),
            col(Provider.name),
            col(Provider.kind),
            col(Provider.status),
            col(Provider.region_code),
            col(Provider.lat),
            col(Provider.lon),
            col(Provider.price_list_version),
        )
        .where(col(Provider.version) > since)
        .order_by(col(Provider.version), col(Provider.id))
    )
    return [ListedProvider(*row) for row in result]


async def terminals_changed_since(session: AsyncSession, since: int) -> list[Terminal]:
    result = await session.execute(
        select(Terminal)
        .where(col(Terminal.version) > since)
        .order_by(col(Terminal.version), col(Terminal.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())
