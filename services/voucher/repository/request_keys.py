"""Idempotency keys of officers' writes (the `RequestKey` table)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import RequestKey


async def get(session: AsyncSession, key: str) -> RequestKey | None:
    return await session.scalar(select(RequestKey).where(col(RequestKey.key) == key))


async def put(
    session: AsyncSession,
    key: str,
    operation: str,
    request_hash: bytes,
    resource_id: uuid.UUID,
    created_by: str,
) -> bool:
    """Record a key in the caller's transaction; False if another request holds it."""
    done = await session.scalar(
        pg_insert(RequestKey)
        .values(
            key=key,
            operation=operation,
            request_hash=request_hash,
            resource_id=resource_id,
            created_by=created_by,
        )
        .on_conflict_do_nothing(index_elements=[col(RequestKey.key)])
        .returning(col(RequestKey.key))
    )
    return done is not None
