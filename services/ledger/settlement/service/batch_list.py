"""The list of payment batches a finance officer or auditor may see (read-only).

Rule: a batch is seen by whoever's region scope covers the batch's `region_code` (the region
it was made for); newest first, a page at a time (keyset cursor on creation time and id, so
a batch made meanwhile neither repeats nor skips a row). Each batch carries the count of its
lines by status, from which its state reads: `pending` while any line waits for the bank,
`paid` when every line is paid, `partly_failed` when the bank refused some.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.common.auth import Principal
from services.common.errors import InvalidInput
from services.common.regions import significant_prefix
from services.ledger.settlement import batch_repository as repo


def batch_state(pending: int, paid: int, failed: int) -> str:
    """`pending` while any line waits; `paid` when all are paid; else `partly_failed`."""
    if pending:
        return "pending"
    return "paid" if not failed else "partly_failed"


def _cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not value:
        return None
    try:
        at, _, ident = value.rpartition("_")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError:
        raise InvalidInput("The cursor is not one this list gave.", field="cursor") from None


async def list_batches(
    pool: asyncpg.Pool, who: Principal, *, region_code: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Batches within `region_code` (default the caller's whole scope), newest first."""
    scope = region_code or who.region or ""
    who.ensure_region(scope)
    after = _cursor(cursor)
    async with pool.acquire() as conn:
        rows = await repo.list_batches(conn, significant_prefix(scope), limit + 1, after)
    items = [
        {
            "id": str(r["id"]),
            "reference": r["reference"],
            "region_code": r["region_code"],
            "total_fen": int(r["total_fen"]),
            "count": r["line_count"],
            "created_by": r["created_by"],
            "created_at": r["created_at"].isoformat(),
            "lines_pending": r["pending"],
            "lines_paid": r["paid"],
            "lines_failed": r["failed"],
            "paid_fen": int(r["paid_fen"]),
            "state": batch_state(r["pending"], r["paid"], r["failed"]),
        }
        for r in rows[:limit]
        if who.covers_region(r["region_code"])
    ]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "items": items,
        "next_cursor": f"{last['created_at'].isoformat()}_{last['id']}" if last else None,
    }
