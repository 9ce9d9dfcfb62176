"""Route: the voucher side of the ledger's reconciliation (service only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.auth import Principal, Role, require
from services.common.db import DatabaseDep
from services.common.regions import significant_prefix
from services.common.types import PERIOD_PATTERN
from services.voucher.repository import reconciliation as repo
from services.voucher.schemas.reconciliation import ReconciliationFeed

router = APIRouter(tags=["internal"])
SERVICE_ONLY = require(Role.service)


@router.get("/internal/reconciliation", response_model=ReconciliationFeed)
async def reconciliation_feed(
    db: DatabaseDep,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
    region_code: Annotated[str, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")],
    _p: Principal = SERVICE_ONLY,
) -> ReconciliationFeed:
    """(Ledger reconciliation) The period's redemptions (by their Asia/Shanghai day) of
    vouchers whose budget region lies in `region_code`, their co-payments (captured and
    refunded), and the sum of voucher balances per
    program and budget region, from one snapshot."""
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        return await repo.feed(session, period, significant_prefix(region_code))
