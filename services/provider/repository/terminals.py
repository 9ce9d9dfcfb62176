"""Terminal credentials: only the SHA-256 of a secret is kept."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Update, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import Terminal
from services.provider.service.vocabulary import TerminalStatus


@dataclass(frozen=True, slots=True)
class NewTerminal:
    id: uuid.UUID
    provider_id: uuid.UUID
    name: str
    secret_sha256: str
    version: int
    created_by: str
    request_key: str | None = None
    request_hash: bytes | None = None
    secret_sealed: bytes | None = None
    secret_until: datetime | None = None


async def insert_terminal(session: AsyncSession, new: NewTerminal) -> None:
    await session.execute(
        insert(Terminal).values(**asdict(new), status=TerminalStatus.active.value)
    )


async def terminals_of(session: AsyncSession, provider_id: uuid.UUID) -> list[Terminal]:
    """The provider's terminals in the order they were issued."""
    result = await session.execute(
        select(Terminal)
        .where(col(Terminal.provider_id) == provider_id)
        .order_by(col(Terminal.created_at), col(Terminal.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def get_terminal(
    session: AsyncSession, provider_id: uuid.UUID, terminal_id: uuid.UUID, *, lock: bool = False
) -> Terminal | None:
    """One of the provider's terminals (FOR UPDATE with `lock`), as it is now."""
    stmt = (
        select(Terminal)
        .where(col(Terminal.id) == terminal_id, col(Terminal.provider_id) == provider_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_request_key(
    session: AsyncSession, provider_id: uuid.UUID, request_key: str
) -> Terminal | None:
    """The terminal issued to the provider under this (caller-scoped) key, if any."""
    result = await session.execute(
        select(Terminal)
        .where(col(Terminal.provider_id) == provider_id, col(Terminal.request_key) == request_key)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def clear_lapsed_secrets(session: AsyncSession, provider_id: uuid.UUID) -> None:
    """Drop the sealed copies of the provider's secrets that can no longer be answered."""
    await session.execute(
        update(Terminal)
        .where(
            col(Terminal.provider_id) == provider_id,
            col(Terminal.secret_sealed).is_not(None),
            col(Terminal.secret_until) <= func.now(),
        )
        .values(secret_sealed=None)
        .execution_options(synchronize_session=False)
    )


def _update_terminal(terminal_id: uuid.UUID) -> Update:
    return (
        update(Terminal)
        .where(col(Terminal.id) == terminal_id)
        .execution_options(synchronize_session=False)
    )


async def rename_terminal(
    session: AsyncSession, terminal_id: uuid.UUID, *, name: str, version: int
) -> None:
    await session.execute(_update_terminal(terminal_id).values(name=name, version=version))


async def revoke_terminal(
    session: AsyncSession, terminal_id: uuid.UUID, *, version: int, actor: str
) -> None:
    await session.execute(
        _update_terminal(terminal_id).values(
            status=TerminalStatus.revoked.value,
            revoked_at=func.now(),
            revoked_by=actor,
            version=version,
            secret_sealed=None,
        )
    )


async def terminal_credential(session: AsyncSession, terminal_id: uuid.UUID) -> Terminal | None:
    """The terminal a secret names, to check the secret's hash and the terminal's status."""
    result = await session.execute(
        select(Terminal)
        .where(col(Terminal.id) == terminal_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
