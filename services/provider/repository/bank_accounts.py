"""Settlement bank account changes: asked by a provider's admin, decided by an officer."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import BankAccountChange, Provider
from services.provider.service.vocabulary import ProviderStatus

PENDING = "pending"


@dataclass(frozen=True, slots=True)
class NewBankChange:
    id: uuid.UUID
    provider_id: uuid.UUID
    bank_name: str
    account_name: str
    account_number_enc: bytes
    account_number_masked: str
    requested_by: str


async def supersede_pending(session: AsyncSession, provider_id: uuid.UUID) -> None:
    """The provider's pending change (if any) is superseded by a newer request."""
    await session.execute(
        update(BankAccountChange)
        .where(
            col(BankAccountChange.provider_id) == provider_id,
            col(BankAccountChange.status) == PENDING,
        )
        .values(status="superseded", decided_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def insert_bank_change(session: AsyncSession, new: NewBankChange) -> None:
    await session.execute(insert(BankAccountChange).values(**asdict(new)))


async def bank_changes(session: AsyncSession, provider_id: uuid.UUID) -> list[BankAccountChange]:
    """The provider's bank account changes, newest first."""
    result = await session.execute(
        select(BankAccountChange)
        .where(col(BankAccountChange.provider_id) == provider_id)
        .order_by(col(BankAccountChange.requested_at).desc(), col(BankAccountChange.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def pending_change(session: AsyncSession, provider_id: uuid.UUID) -> BankAccountChange | None:
    """The provider's pending change (a unique index allows one at most)."""
    result = await session.execute(
        select(BankAccountChange)
        .where(
            col(BankAccountChange.provider_id) == provider_id,
            col(BankAccountChange.status) == PENDING,
        )
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def get_bank_change(
    session: AsyncSession, provider_id: uuid.UUID, change_id: uuid.UUID, *, lock: bool = False
) -> BankAccountChange | None:
    """One of the provider's changes (FOR UPDATE with `lock`), as it is now."""
    stmt = (
        select(BankAccountChange)
        .where(
            col(BankAccountChange.id) == change_id,
            col(BankAccountChange.provider_id) == provider_id,
        )
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A pending change with its provider (name, region, the account it is paid to now)."""

    change: BankAccountChange
    provider: Provider


async def pending_in_region(
    session: AsyncSession, region_prefix: str | None, limit: int
) -> list[PendingChange]:
    """Pending changes of providers (not revoked) in a region, all with no prefix; oldest
    request first."""
    stmt = (
        select(BankAccountChange, Provider)
        .join(Provider, col(Provider.id) == col(BankAccountChange.provider_id))
        .where(
            col(BankAccountChange.status) == PENDING,
            col(Provider.status) != ProviderStatus.revoked.value,
        )
        .order_by(col(BankAccountChange.requested_at), col(BankAccountChange.id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if region_prefix is not None:
        stmt = stmt.where(col(Provider.region_code).startswith(region_prefix, autoescape=True))
    result = await session.execute(stmt)
    return [PendingChange(change, provider) for change, provider in result]


async def decide(
    session: AsyncSession, change_id: uuid.UUID, status: str, actor: str, reason: str | None
) -> None:
    """Record the decision (approved or rejected); a trigger refuses a second one."""
    await session.execute(
        update(BankAccountChange)
        .where(col(BankAccountChange.id) == change_id)
        .values(status=status, decided_by=actor, decided_at=func.now(), reason=reason)
        .execution_options(synchronize_session=False)
    )
