"""Accounting periods: closing one (finance, province-wide)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.api.deps import ERRORS, FINANCE_ONLY, answer, province_wide
from services.ledger.schemas import Period, PeriodClose, PeriodCloseRead
from services.ledger.service import checkpoints, periods

router = APIRouter()


@router.post("/periods/{period}/close", response_model=PeriodCloseRead, responses=ERRORS)
async def close_period(
    period: Annotated[Period, Path()],
    body: PeriodClose,
    db: DatabaseDep,
    request: Request,
    p: Principal = FINANCE_ONLY,
) -> JSONResponse:
    """Close an ended accounting period (YYYY-MM); the database then refuses entries dated
    in it, and the ledger signs a checkpoint of its head (`GET /v1/chain/checkpoints`).
    Needs a province-wide finance scope."""
    province_wide(p)
    outcome = await periods.close_period(db, period, body.idempotency_key, p.sub)
    if outcome.status_code == 200:
        await checkpoints.checkpoint_safely(
            db, request.app.state.settings, f"period_close:{period}"
        )
    return answer(outcome)
