"""The transactional outbox: events for the ledger, written in the caller's transaction
(SQLAlchemy on the `Outbox` table). The relay's statements, and the redemption's own INSERT
of its event, are in the hot-path module, repository/redemption.py."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.ids import new_uuid
from services.voucher.models import Outbox


async def enqueue(
    session: AsyncSession,
    type_: str,
    payload: Mapping[str, object],
    occurred_at: datetime | None = None,
) -> uuid.UUID:
    """Add an event to the outbox inside the caller's transaction; returns its event id.
    `occurred_at` defaults to the transaction's time."""
    event_id = new_uuid()
    values: dict[str, object] = {"event_id": event_id, "type": type_, "payload": dict(payload)}
    if occurred_at is not None:
        values["occurred_at"] = occurred_at
    await session.execute(insert(Outbox).values(values))
    return event_id
