"""The answers given to keyed writes (`idempotency_record`), replayed for the same key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import IdempotencyRecord


async def get(session: AsyncSession, key: str) -> IdempotencyRecord | None:
    """The record of `key`, read afresh (never a copy the session already holds)."""
    stmt = (
        select(IdempotencyRecord)
        .where(col(IdempotencyRecord.key) == key)
        .execution_options(populate_existing=True)
    )
    found: IdempotencyRecord | None = (await session.scalars(stmt)).one_or_none()
    return found


async def put(
    session: AsyncSession,
    *,
    key: str,
    operation: str,
    request_hash: bytes,
    status_code: int,
    response: dict[str, Any],
    created_by: str,
) -> None:
    """Record the answer under `key`, unless a record is already there (the first stays)."""
    await session.execute(
        insert(IdempotencyRecord)
        .values(
            key=key,
            operation=operation,
            request_hash=request_hash,
            status_code=status_code,
            response=response,
            created_by=created_by,
        )
        .on_conflict_do_nothing(index_elements=[col(IdempotencyRecord.key)])
    )
