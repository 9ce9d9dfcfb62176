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


async def enqueue(
    session: AsyncSession, type_: str, payload: dict[str, Any], occurred_at: datetime | None = None
) -> str:
    """Add an event to the outbox inside the caller's transaction; returns its event id."""
    import orjson

    event_id = new_uuid()
    await session.execute(
        INSERT_EVENT,
        {
            "event_id": event_id,
            "type": type_,
            "payload": orjson.dumps(payload).decode(),
            "occurred_at": occurred_at,
        },
    )
    return str(event_id)


# --- relay and lag (raw asyncpg) ------------------------------------------------------------

LAG_SQL = """
SELECT count(*) FILTER (WHERE delivered_at IS NULL) AS undelivered,
       count(*) FILTER (WHERE rejected) AS rejected,
       min(occurred_at) FILTER (WHERE delivered_at IS NULL) AS oldest,
       coalesce(extract(epoch FROM now() - min(occurred_at) FILTER (
         WHERE delivered_at IS NULL)), 0)::float8 AS oldest_age_s
  FROM outbox WHERE delivered_at IS NULL OR rejected
"""


async def lag(conn: Any) -> dict[str, Any]:
    """How far the relay is behind: undelivered events and the age of the oldest."""
    row = await conn.fetchrow(LAG_SQL)
    return {
        "undelivered": int(row["undelivered"]),
        "rejected": int(row["rejected"]),
        "oldest_undelivered_at": row["oldest"],
        "oldest_age_s": float(row["oldest_age_s"]),
    }


# One relay delivers at a time: the turn is this transaction-scoped advisory lock, held while
# the batch is posted to the ledger and marked, released at commit. A second relay (a
# standby, a deploy overlap) waits for its turn and then takes the next batch, so events
# reach the ledger in outbox order (a void never overtakes its redemption).
RELAY_TURN_SQL = "SELECT pg_advisory_xact_lock(hashtext('yiyang.outbox.relay'))"

CLAIM_BATCH_SQL = """
SELECT id, event_id, type, payload::text AS payload, occurred_at
  FROM outbox
 WHERE delivered_at IS NULL AND NOT rejected
 ORDER BY id
 LIMIT $1
 FOR UPDATE
"""


async def lock_batch(conn: Any, limit: int) -> list[Any]:
    """The relay's turn (RELAY_TURN_SQL), then the oldest undelivered events, locked, in id
    order. Must run inside the transaction that posts and marks them."""
    await conn.execute(RELAY_TURN_SQL)
    return await conn.fetch(CLAIM_BATCH_SQL, limit)


async def mark_delivered(conn: Any, ids: list[int]) -> None:
    if ids:
        await conn.execute(
            "UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL "
            "WHERE id = ANY($1::bigint[])",
            ids,
        )


async def mark_rejected(conn: Any, rejected: list[tuple[int, str]]) -> None:
    """Refused for good by the ledger: kept (visible as lag.rejected), never resent blindly."""
    for outbox_id, error in rejected:
        await conn.execute(
            "UPDATE outbox SET delivered_at = now(), rejected = true, attempts = attempts + 1, "
            "last_error = $2 WHERE id = $1",
            outbox_id,
            error[:500],
        )


async def mark_failed(conn: Any, ids: list[int], error: str) -> None:
    if ids:
        await conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
            "WHERE id = ANY($1::bigint[])",
            ids,
            error[:500],
        )
