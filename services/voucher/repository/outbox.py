"""SQL for the transactional outbox (events for the ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.ids import new_uuid

# The hot path embeds the same INSERT in its single statement (see repository/redemption.py).
INSERT_EVENT = text(
    "INSERT INTO outbox (event_id, type, payload, occurred_at) "
    "VALUES (:event_id, :type, CAST(:payload AS jsonb), coalesce(:occurred_at, now()))"
)


async def enqueue(session: AsyncSession, type_: str, payload: dict[str, Any],
                  occurred_at: datetime | None = None) -> str:
    """Add an event to the outbox inside the caller's transaction; returns its event id."""
    import orjson

    event_id = new_uuid()
    await session.execute(INSERT_EVENT, {
        "event_id": event_id, "type": type_,
        "payload": orjson.dumps(payload).decode(), "occurred_at": occurred_at,
    })
    return str(event_id)
