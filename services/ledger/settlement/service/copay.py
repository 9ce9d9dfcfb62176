"""Co-payments in settlement: which are owed to the provider through us, and how the ledger
knows.

Rule (docs/settlement.md, "Co-payments owed to providers"): a co-payment the family paid
online (Stripe) is collected by the department (1102 co-payment clearing) and owed to the
provider (2201, funding source `copay`); the provider claims it with the period's subsidy, as
the claim's co-payment part, net of refunds (one line per `copay_received` /
`copay_refunded` entry), and it is paid in the same payment line. A cash co-payment is
already in the provider's hands: the ledger posts nothing for it (service/plans.py,
`copay_is_posted`), so there is nothing to claim or pay.

The journal entry of a co-payment does not carry how it was paid, so the method of each
posted (online) `copay.*` event is recorded (`copayment_method`) before the events are
applied; a co-payment entry whose method the ledger never saw is not claimable
(reconciliation names it COPAY_METHOD_UNKNOWN).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import ValidationError

from services.ledger.schemas import EVENT_PAYLOADS, EventIn
from services.ledger.service import plans
from services.ledger.settlement import copay_repository as repo


async def record_methods(pool: asyncpg.Pool, events: list[EventIn]) -> None:
    """Record how each online co-payment in a batch of events was paid. Runs (and commits)
    before the batch is applied, so every co-payment entry in the journal has its method; a
    malformed payload, or a cash one (never posted), is skipped here and rejected by the
    posting."""
    rows: list[dict[str, Any]] = []
    for ev in events:
        if ev.type not in ("copay.received", "copay.refunded"):
            continue
        try:
            p = EVENT_PAYLOADS[ev.type].model_validate(ev.payload)
        except ValidationError:
            continue
        if not plans.copay_is_posted(p.method):
            continue
        rows.append(
            {
                "copayment_id": p.copayment_id,
                "method": p.method,
                "redemption_id": p.redemption_id,
                "provider_id": p.provider_id,
            }
        )
    if rows:
        async with pool.acquire() as conn:
            await repo.record_methods(conn, rows)
