"""Routes of provider statements and aging. Rules are in service/reports.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.common.auth import Principal, Role
from services.common.db import SessionDep
from services.ledger.settlement.api.deps import (
    ERRORS,
    FINANCE_AUDITOR,
    READERS,
    require_region_scope,
)
from services.ledger.settlement.schemas import AgingRead, Period, StatementRead
from services.ledger.settlement.service import reports

router = APIRouter(tags=["settlement"])


@router.get("/providers/{provider_id}/statement", responses=ERRORS)
async def get_provider_statement(
    provider_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    period: Annotated[Period, Query()],
    p: Principal = READERS,
) -> StatementRead:
    """A provider's statement for a period from the ledger: opening payable, redemptions,
    voids, payments, other corrections, closing (closing = opening + redemptions - voids -
    payments + other). The provider's admin, or finance/auditor covering its accounts."""
    if p.role == Role.provider_admin:
        p.ensure_provider(provider_id)
    else:
        require_region_scope(p)
    return await reports.statement(session, provider_id, period, p)


@router.get("/aging", responses=ERRORS)
async def get_aging(session: SessionDep, p: Principal = FINANCE_AUDITOR) -> AgingRead:
    """Approved-but-unpaid claim amounts per provider, bucketed by days waited since
    approval (0-30, 31-60, 61-90, over 90), within your region scope."""
    require_region_scope(p)
    return await reports.aging(session, lambda regions: all(p.covers_region(r) for r in regions))
