"""Printed cards: the PIN's hash and its failed attempts (SQLAlchemy on `Card`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Card


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


async def cards_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[Card]:
    """Every card the person was given, newest first (replaced ones too)."""
    result = await session.scalars(
        select(Card)
        .where(col(Card.beneficiary_id) == beneficiary_id)
        .order_by(col(Card.created_at).desc())
    )
    return list(result)
