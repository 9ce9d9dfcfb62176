"""Budget: appropriations (finance), commitments before issuance (the voucher service), and
what is available."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.common.errors import OutOfScope
from services.ledger.api.deps import (
    BUDGET_ERRORS,
    ERRORS,
    FINANCE_ONLY,
    SERVICE_FINANCE_AUDITOR,
    SERVICE_ONLY,
    ProgramsDep,
    answer,
    asked,
    scope,
)
from services.ledger.schemas import (
    AppropriationCreate,
    AppropriationRead,
    BudgetExecutionRead,
    BudgetRead,
    CommitmentCreate,
    CommitmentRead,
)
from services.ledger.service import budget

router = APIRouter()


@router.post(
    "/appropriations", status_code=201, response_model=AppropriationRead, responses=BUDGET_ERRORS
)
async def create_appropriation(
    body: AppropriationCreate, db: DatabaseDep, programs: ProgramsDep, p: Principal = FINANCE_ONLY
) -> JSONResponse:
    """Appropriate budget to a program and region, by funding source (treasury cash Dr /
    budget available Cr). Idempotent by `idempotency_key`. The region must be a known
    division of the province (422 UNKNOWN_REGION) and the programme one the voucher service
    knows (422 UNKNOWN_PROGRAM; 503 VOUCHER_SERVICE_UNAVAILABLE when it does not answer)."""
    scope(p)
    p.ensure_region(body.region_code)
    return answer(await budget.appropriate(db, programs, body, p.sub))


@router.post(
    "/commitments", status_code=201, response_model=CommitmentRead, responses=BUDGET_ERRORS
)
async def create_commitment(
    body: CommitmentCreate, db: DatabaseDep, programs: ProgramsDep, p: Principal = SERVICE_ONLY
) -> JSONResponse:
    """Commit budget before issuance (contract in docs/architecture.md). 409 BUDGET_EXCEEDED
    with `details.available_fen` when a funding source cannot cover its share; nothing is
    posted then. Region and programme are checked as for appropriations; `count` is at
    least 1. Idempotent by `idempotency_key`."""
    return answer(await budget.commit(db, programs, body, p.sub))


@router.get("/budget", responses=ERRORS)
async def get_budget(
    db: DatabaseDep,
    program_code: Annotated[str, Query(max_length=40)],
    region_code: Annotated[str, Query(max_length=12)],
    p: Principal = SERVICE_FINANCE_AUDITOR,
) -> BudgetRead:
    """Budget available to a program at the nearest region at or above `region_code` that
    has one, in total and by funding source."""
    asked(p, region_code)
    result = await budget.available(db, program_code, region_code)
    if result.budget_region_code and not p.covers_region(result.budget_region_code):
        raise OutOfScope("The budget region is outside your scope.", field="region_code")
    return result


@router.get("/budget/execution", response_model=BudgetExecutionRead, responses=ERRORS)
async def get_budget_execution(
    db: DatabaseDep,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    p: Principal = SERVICE_FINANCE_AUDITOR,
) -> BudgetExecutionRead:
    """Budget execution of every program by funding source over the budget regions of a
    region subtree (default the caller's scope): appropriated, committed, spent, released and
    available, in fen (the civil-affairs dashboard reads it)."""
    return await budget.execution(db, asked(p, region_code))
