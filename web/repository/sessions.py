"""Sessions: one row per signed-in browser, read with its account in one statement."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from web.models import WebSession, WebUser


async def add(session: AsyncSession, row: WebSession) -> WebSession:
    session.add(row)
    await session.flush()
    return row


async def live_by_token(
    session: AsyncSession, token_hash: bytes
) -> tuple[WebSession, WebUser] | None:
    """The session (not revoked) whose cookie hashes to `token_hash`, with its account."""
    row = (
        await session.execute(
            select(WebSession, WebUser)
            .join(WebUser, col(WebUser.id) == col(WebSession.user_id))
            .where(col(WebSession.token_hash) == token_hash, col(WebSession.revoked_at).is_(None))
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def touch(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(WebSession).where(col(WebSession.id) == session_id).values(last_seen_at=now)
    )


async def save_state(
    session: AsyncSession, session_id: uuid.UUID, *, flash: list[Any], acting_for: str | None
) -> None:
    await session.execute(
        update(WebSession)
        .where(col(WebSession.id) == session_id)
        .values(flash=flash, acting_for=acting_for)
    )


async def count_mfa_failure(session: AsyncSession, session_id: uuid.UUID) -> int:
    result = await session.execute(
        update(WebSession)
        .where(col(WebSession.id) == session_id)
        .values(mfa_failures=col(WebSession.mfa_failures) + 1)
        .returning(col(WebSession.mfa_failures))
    )
    return int(result.scalar_one())


async def revoke(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(WebSession)
        .where(col(WebSession.id) == session_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


async def revoke_all(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None
) -> int:
    """End every session of an account at once (but `keep`); how many were live."""
    stmt = update(WebSession).where(
        col(WebSession.user_id) == user_id, col(WebSession.revoked_at).is_(None)
    )
    if keep is not None:
        stmt = stmt.where(col(WebSession.id) != keep)
    result = await session.execute(stmt.values(revoked_at=now).returning(col(WebSession.id)))
    return len(result.all())


async def live_count(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    rows = await session.execute(
        select(col(WebSession.id)).where(
            col(WebSession.user_id) == user_id,
            col(WebSession.revoked_at).is_(None),
            col(WebSession.expires_at) > now,
            col(WebSession.mfa_pending).is_(False),
        )
    )
    return len(rows.all())


async def purge(session: AsyncSession, before: datetime) -> int:
    """Forget sessions that ended (expired or revoked) before `before`."""
    result = await session.execute(
        delete(WebSession)
        .where(or_(col(WebSession.expires_at) < before, col(WebSession.revoked_at) < before))
        .returning(col(WebSession.id))
    )
    return len(result.all())
