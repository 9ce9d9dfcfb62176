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

from collections.abc import Sequence

from pydantic import ValidationError

from services.common.db import Database
from services.ledger.schemas import CopayMoved, EventIn
from services.ledger.service import plans
from services.ledger.settlement.repository import copay as repo
from services.ledger.settlement.repository.copay import PaidHow

COPAY_EVENTS = ("copay.received", "copay.refunded")  # payload: CopayMoved


def methods_of(events: Sequence[EventIn]) -> list[PaidHow]:
    """How each online co-payment in a batch of events was paid (pure). A malformed payload,
    or a cash one (never posted), is left out here and rejected by the posting."""
    rows: list[PaidHow] = []
    for ev in events:
        if ev.type not in COPAY_EVENTS:
            continue
        try:
            p = CopayMoved.model_validate(ev.payload)
        except ValidationError:
            continue
        if plans.copay_is_posted(p.method):
            rows.append(PaidHow(p.copayment_id, p.method, p.redemption_id, p.provider_id))
    return rows


async def record_methods(db: Database, events: Sequence[EventIn]) -> None:
    """Record how each online co-payment in a batch of events was paid, in a unit of work of
    its own that commits before the batch is applied, so every co-payment entry in the
    journal has its method."""
    rows = methods_of(events)
    if rows:
        async with db.unit_of_work() as session:
            await repo.record_methods(session, rows)
