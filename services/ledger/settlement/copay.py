"""Temporary bridge, to be deleted when the one-design branches merge (issue 13).

The ledger core's events route (services/ledger/api.py) still calls
`settlement.copay.record_methods(raw_pool, events)`. The settlement function is now
`services.ledger.settlement.service.copay.record_methods(db, events)`: it takes the
service's `Database` and records in a unit of work of its own. Until the route passes its
Database, this keeps the old call working on the pool it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.ledger.schemas import EventIn
from services.ledger.settlement.service.copay import methods_of


async def record_methods(pool: asyncpg.Pool, events: Sequence[EventIn]) -> None:
    rows = methods_of(events)
    if rows:
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO copayment_method (copayment_id, method, redemption_id, provider_id) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
                "ON CONFLICT (copayment_id) DO NOTHING",
                [r.copayment_id for r in rows],
                [r.method for r in rows],
                [r.redemption_id for r in rows],
                [r.provider_id for r in rows],
            )
