"""SQL for idempotency keys of officers' writes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def get(session: AsyncSession, key: str) -> dict[str, Any] | None:
    row = (
        await session.execute(
            text(
                "SELECT key, operation, request_hash, resource_id FROM request_key WHERE key = :k"
            ),
            {"k": key},
        )
    ).first()
    return dict(row._mapping) if row else None


async def put(
    session: AsyncSession,
    key: str,
    operation: str,
    request_hash: bytes,
    resource_id: uuid.UUID,
    created_by: str,
) -> bool:
    """Record a key in the caller's transaction; False if another request holds it."""
    done = (
        await session.execute(
            text(
                "INSERT INTO request_key (key, operation, request_hash, resource_id, created_by) "
                "VALUES (:k, :op, :h, :r, :who) ON CONFLICT (key) DO NOTHING RETURNING key"
            ),
            {"k": key, "op": operation, "h": request_hash, "r": resource_id, "who": created_by},
        )
    ).first()
    return done is not None
