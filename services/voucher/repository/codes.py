"""Printed cards: the PIN's hash and its failed attempts (SQLAlchemy on `Card`); the short
numeric codes and their guard (`ShortCode`, `ShortCodeGuard`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Card, ShortCode, ShortCodeGuard


@dataclass(frozen=True, slots=True)
class PinFailure:
    """A card after one more wrong PIN."""

    failed_attempts: int
    status: str


async def card_by_nonce(session: AsyncSession, nonce: bytes) -> Card | None:
    return await session.scalar(
        select(Card).where(col(Card.nonce) == nonce).execution_options(populate_existing=True)
    )


async def record_failure(
    session: AsyncSession, card_id: uuid.UUID, now: datetime, max_attempts: int
) -> PinFailure | None:
    """Count one wrong PIN atomically; the `max_attempts`-th locks the card. None when the
    card is no longer active (locked or replaced meanwhile)."""
    locks = col(Card.failed_attempts) + 1 >= max_attempts
    row = (
        await session.execute(
            update(Card)
            .where(col(Card.id) == card_id, col(Card.status) == "active")
            .values(
                failed_attempts=func.least(col(Card.failed_attempts) + 1, max_attempts),
                status=case((locks, "locked"), else_=col(Card.status)),
                locked_at=case((locks, now), else_=col(Card.locked_at)),
            )
            .returning(col(Card.failed_attempts), col(Card.status))
            .execution_options(synchronize_session=False)
        )
    ).first()
    return PinFailure(row[0], row[1]) if row is not None else None


async def reset_failures(session: AsyncSession, card_id: uuid.UUID) -> None:
    await session.execute(
        update(Card)
        .where(col(Card.id) == card_id, col(Card.status) == "active", col(Card.failed_attempts) > 0)
        .values(failed_attempts=0)
        .execution_options(synchronize_session=False)
    )


async def card_of(
    session: AsyncSession, beneficiary_id: uuid.UUID, card_id: uuid.UUID
) -> Card | None:
    """The person's card `card_id`, its row locked (an unlock and a wrong PIN queue)."""
    return await session.scalar(
        select(Card)
        .where(col(Card.id) == card_id, col(Card.beneficiary_id) == beneficiary_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def unlock(session: AsyncSession, card_id: uuid.UUID, now: datetime, who: str) -> Card | None:
    """A locked card active again with no wrong PINs counted, and who unlocked it when;
    None when it is not locked."""
    return await session.scalar(
        update(Card)
        .where(col(Card.id) == card_id, col(Card.status) == "locked")
        .values(
            status="active", failed_attempts=0, locked_at=None, unlocked_at=now, unlocked_by=who
        )
        .returning(Card)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


async def replace_cards(session: AsyncSession, beneficiary_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(Card)
        .where(col(Card.beneficiary_id) == beneficiary_id, col(Card.status) != "replaced")
        .values(status="replaced", replaced_at=now)
        .execution_options(synchronize_session=False)
    )


async def insert_card(
    session: AsyncSession,
    *,
    card_id: uuid.UUID,
    beneficiary_id: uuid.UUID,
    nonce: bytes,
    pin_salt: bytes,
    pin_hash: bytes,
    created_by: str,
) -> None:
    await session.execute(
        insert(Card).values(
            id=card_id,
            beneficiary_id=beneficiary_id,
            nonce=nonce,
            pin_salt=pin_salt,
            pin_hash=pin_hash,
            created_by=created_by,
        )
    )


# --- short numeric codes (service/short_codes.py) --------------------------------------------


async def insert_short_code(
    session: AsyncSession, code_hash: bytes, token: str, expires_at: datetime
) -> bool:
    """Keep a new short code; False when those digits are already taken (draw again)."""
    stmt = (
        pg_insert(ShortCode)
        .values(code_hash=code_hash, token=token, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[col(ShortCode.code_hash)])
        .returning(col(ShortCode.code_hash))
    )
    return (await session.execute(stmt)).first() is not None


async def short_code_token(session: AsyncSession, code_hash: bytes) -> str | None:
    """The token the digits stand for (expired or not: the redemption says which)."""
    return await session.scalar(
        select(col(ShortCode.token)).where(col(ShortCode.code_hash) == code_hash)
    )


async def short_code_failures(
    session: AsyncSession, provider_id: str, window_from: datetime
) -> int:
    """Wrong short codes typed at the provider in the window that is still open."""
    failures = await session.scalar(
        select(col(ShortCodeGuard.failures)).where(
            col(ShortCodeGuard.provider_id) == provider_id,
            col(ShortCodeGuard.window_start) > window_from,
        )
    )
    return int(failures or 0)


async def record_short_code_failure(
    session: AsyncSession, provider_id: str, now: datetime, window_from: datetime
) -> int:
    """Count one wrong short code at the provider, atomically (a window that has ended
    starts again at one); the count in the window after it."""
    stale = col(ShortCodeGuard.window_start) <= window_from
    stmt = (
        pg_insert(ShortCodeGuard)
        .values(provider_id=provider_id, window_start=now, failures=1)
        .on_conflict_do_update(
            index_elements=[col(ShortCodeGuard.provider_id)],
            set_={
                "failures": case((stale, 1), else_=col(ShortCodeGuard.failures) + 1),
                "window_start": case((stale, now), else_=col(ShortCodeGuard.window_start)),
            },
        )
        .returning(col(ShortCodeGuard.failures))
    )
    return int((await session.execute(stmt)).scalar_one())


async def purge_short_codes(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(ShortCode)
        .where(col(ShortCode.expires_at) < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def cards_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[Card]:
    """Every card the person was given, newest first (replaced ones too)."""
    result = await session.scalars(
        select(Card)
        .where(col(Card.beneficiary_id) == beneficiary_id)
        .order_by(col(Card.created_at).desc())
    )
    return list(result)
