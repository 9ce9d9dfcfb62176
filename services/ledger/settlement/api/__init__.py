"""Routes of settlement, one module per area; the ledger app includes `router`. Rules are in
service/, SQL in repository/."""

from __future__ import annotations

from fastapi import APIRouter

from services.ledger.settlement.api import (
    batches,
    cash_benefits,
    claims,
    reconciliation,
    reports,
)

router = APIRouter(prefix="/v1")
for module in (claims, batches, cash_benefits, reports, reconciliation):
    router.include_router(module.router)
