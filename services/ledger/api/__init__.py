"""Routes of the ledger service: HTTP mapped to service/, one module per area.

Roles: finance and auditor read (scoped by region: a scope sees the accounts of the regions
it covers); finance appropriates, reverses and closes periods; services post commitments and
outbox events. Writes carry an idempotency key; docs/errors.md lists every error code.
Settlement's routes (claims, payment batches, reconciliation) are included from
services/ledger/settlement/api.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.ledger.api import balances, budget, chain, entries, events, periods
from services.ledger.settlement.api import router as settlement_router

router = APIRouter()

_ledger = APIRouter(prefix="/v1", tags=["ledger"])
for area in (budget, events, entries, periods, balances, chain):
    _ledger.include_router(area.router)
router.include_router(_ledger)
router.include_router(settlement_router)
