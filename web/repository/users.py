"""Accounts and their recovery codes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from web.models import RecoveryCode, WebUser


async def by_username(session: AsyncSession, username: str) -> WebUser | None:
    return (
        await session.execute(select(WebUser).where(col(WebUser.username) == username))
    ).scalar_one_or_none()


async def by_id(session: AsyncSession, user_id: uuid.UUID) -> WebUser | None:
    return await session.get(WebUser, user_id)


async def add(session: AsyncSession, user: WebUser) -> WebUser:
    session.add(user)
    await session.flush()
    return user


async def in_region(session: AsyncSession, prefix: str, *, query: str = "") -> list[WebUser]:
    """Accounts whose region starts with `prefix`, by username; `query` narrows to usernames
    or display names containing it."""
    stmt = select(WebUser).where(col(WebUser.region).startswith(prefix, autoescape=True))
    if query:
        stmt = stmt.where(
            or_(
                col(WebUser.username).contains(query.lower(), autoescape=True),
                col(WebUser.display_name).contains(query, autoescape=True),
            )
        )
    return list((await session.execute(stmt.order_by(col(WebUser.username)).limit(500))).scalars())


async def display_names(session: AsyncSession, usernames: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(WebUser.username), col(WebUser.display_name)).where(
            col(WebUser.username).in_(wanted)
        )
    )
    return {row[0]: row[1] for row in rows}


async def set_password(
    session: AsyncSession,
    user_id: uuid.UUID,
    password_hash: str,
    *,
    must_change: bool,
    now: datetime,
) -> None:
    await session.execute(
        update(WebUser)
        .where(col(WebUser.id) == user_id)
        .values(
            password_hash=password_hash,
            must_change_password=must_change,
            password_changed_at=now,
            updated_at=now,
        )
    )


async def replace_hash(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    """A stronger hash of the same password (argon2 parameters raised since it was made)."""
    await session.execute(
        update(WebUser).where(col(WebUser.id) == user_id).values(password_hash=password_hash)
    )


async def set_status(session: AsyncSession, user_id: uuid.UUID, status: str, now: datetime) -> None:
    await session.execute(
        update(WebUser).where(col(WebUser.id) == user_id).values(status=status, updated_at=now)
    )


async def set_scope(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    display_name: str,
    region: str,
    provider_id: str | None,
    beneficiary_ids: Sequence[str],
    now: datetime,
) -> None:
    await session.execute(
        update(WebUser)
        .where(col(WebUser.id) == user_id)
        .values(
            display_name=display_name,
            region=region,
            provider_id=provider_id,
            beneficiary_ids=list(beneficiary_ids),
            updated_at=now,
        )
    )


async def set_terminal_secret(
    session: AsyncSession, user_id: uuid.UUID, encrypted: bytes | None, now: datetime
) -> None:
    await session.execute(
        update(WebUser)
        .where(col(WebUser.id) == user_id)
        .values(terminal_secret=encrypted, updated_at=now)
    )


async def set_totp_pending(session: AsyncSession, user_id: uuid.UUID, encrypted: bytes) -> None:
    await session.execute(
        update(WebUser).where(col(WebUser.id) == user_id).values(totp_pending_secret=encrypted)
    )


async def confirm_totp(
    session: AsyncSession, user_id: uuid.UUID, encrypted: bytes, step: int, now: datetime
) -> None:
    await session.execute(
        update(WebUser)
        .where(col(WebUser.id) == user_id)
        .values(
            totp_secret=encrypted,
            totp_pending_secret=None,
            totp_enrolled_at=now,
            totp_last_step=step,
            updated_at=now,
        )
    )


async def clear_totp(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(WebUser)
        .where(col(WebUser.id) == user_id)
        .values(
            totp_secret=None,
            totp_pending_secret=None,
            totp_enrolled_at=None,
            totp_last_step=None,
            updated_at=now,
        )
    )
    await session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


async def claim_totp_step(session: AsyncSession, user_id: uuid.UUID, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) was already: two requests racing
    with the same code cannot both succeed."""
    result = await session.execute(
        update(WebUser)
        .where(
            col(WebUser.id) == user_id,
            or_(col(WebUser.totp_last_step).is_(None), col(WebUser.totp_last_step) < step),
        )
        .values(totp_last_step=step)
        .returning(col(WebUser.id))
    )
    return result.scalar_one_or_none() is not None


async def replace_recovery_codes(
    session: AsyncSession, user_id: uuid.UUID, hashes: Sequence[bytes], now: datetime
) -> None:
    await session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    await session.execute(
        insert(RecoveryCode),
        [{"user_id": user_id, "code_hash": h, "created_at": now} for h in hashes],
    )


async def use_recovery_code(
    session: AsyncSession, user_id: uuid.UUID, code_hash: bytes, now: datetime
) -> bool:
    """Spend one unused recovery code (once only, even under concurrent attempts)."""
    result = await session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash) == code_hash,
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
        .returning(col(RecoveryCode.id))
    )
    return result.scalar_one_or_none() is not None


async def unused_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> int:
    rows = await session.execute(
        select(col(RecoveryCode.id)).where(
            col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None)
        )
    )
    return len(rows.all())
