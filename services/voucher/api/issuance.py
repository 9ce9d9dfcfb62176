"""Routes: issuance runs and the lapse of vouchers."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from services.common.auth import Principal, Role, require
from services.common.db import DatabaseDep, SessionDep
from services.common.ids import new_uuid
from services.common.shards import province_code
from services.voucher.api.deps import CipherDep, EngineDep
from services.voucher.errors import LedgerUnavailable
from services.voucher.models import IssuanceRun
from services.voucher.schemas.issuance import (
    ExpiryResult,
    IssuancePreviewRead,
    IssuanceRunCreate,
    IssuanceRunRead,
    IssuanceRunResult,
    IssuanceSkipRead,
    ScheduledIssuanceRead,
)
from services.voucher.service import issuance as service
from services.voucher.service import programs as program_service
from services.voucher.service import request_keys
from services.voucher.service.identity import check_region
from services.voucher.service.periods import parse_period

router = APIRouter(tags=["issuance"])


def _result(run: IssuanceRun) -> IssuanceRunResult:
    return IssuanceRunResult(
        run_id=str(run.id),
        status=run.status,
        eligible=run.eligible,
        issued=run.issued,
        skipped=run.skipped,
        failed=run.failed,
        skip_reasons=run.skip_reasons,
    )


@router.post(
    "/issuance-runs",
    response_model=IssuanceRunResult,
    responses={
        409: {"description": "IDEMPOTENCY / budget refusals"},
        503: {"description": "LEDGER_UNAVAILABLE: retry to resume"},
    },
)
async def start_run(
    body: IssuanceRunCreate,
    session: SessionDep,
    engine: EngineDep,
    cipher: CipherDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    principal: Principal = require(Role.civil_affairs, Role.service),
) -> IssuanceRunResult:
    """Issue a program's vouchers (or cash benefits) for a period to every eligible person in
    a region (an officer of that region). Idempotent: one per person, program and period,
    enforced by the database, so running it again issues nothing new (`skipped`). Bounded by
    the budget the ledger holds: when it runs out the run stops cleanly for that region and
    reports `failed`. A run cut short resumes where it stopped when started again. With an
    `Idempotency-Key` header, a retried request answers the run it started (same key, other
    body: 409 IDEMPOTENCY_KEY_REUSED)."""
    parse_period(body.period)
    region = check_region(body.region_code)
    principal.ensure_region(region)
    await program_service.get(session, body.program_code)
    run_id = new_uuid()
    if idempotency_key is not None:
        key = request_keys.scoped_key(principal.sub, idempotency_key)
        fingerprint = request_keys.request_hash(
            cipher, "issuance_run", body.model_dump(mode="json")
        )
        earlier = await request_keys.replay(session, key, "issuance_run", fingerprint)
        if earlier is not None:
            run = await service.find_run(session, earlier)
            if run is not None:
                return _result(run)
            run_id = earlier  # the key was kept but the run never started: start it now
        else:
            await request_keys.remember(
                session, key, "issuance_run", fingerprint, run_id, principal.sub
            )
    await session.commit()  # nothing held open while the run uses its own transactions
    result = await engine.run(
        program_code=body.program_code,
        period=body.period,
        region_code=region,
        who=principal.sub,
        run_id=run_id,
    )
    return IssuanceRunResult(
        run_id=str(result.run_id),
        status=result.status,
        eligible=result.eligible,
        issued=result.issued,
        skipped=result.skipped,
        failed=result.failed,
        skip_reasons=result.skip_reasons,
    )


@router.get("/issuance-preview", response_model=IssuancePreviewRead)
async def preview_run(
    request: Request,
    session: SessionDep,
    program_code: Annotated[str, Query(min_length=1, max_length=40)],
    period: Annotated[str, Query(max_length=7, description="YYYY-MM")],
    region_code: Annotated[str, Query(max_length=12)],
    principal: Principal = require(Role.civil_affairs),
) -> IssuancePreviewRead:
    """Before an officer starts a run: how many people it would issue to now and what that
    commits (those who have the period's voucher already are counted apart, those skipped for
    a lapsed assessment too), beside the budget the ledger holds for the programme at the
    region. The same queries as the run, read only: it writes nothing."""
    parse_period(period)
    region = check_region(region_code)
    principal.ensure_region(region)
    program = await program_service.for_period(session, program_code, period)
    found = await service.preview(session, program, period, region)
    budget = None
    ledger = getattr(request.app.state, "ledger", None)
    if ledger is not None:
        with contextlib.suppress(LedgerUnavailable):  # the figures show without it
            budget = await ledger.budget_available(program_code, region)
    return IssuancePreviewRead(
        program_code=program_code,
        period=period,
        region_code=region,
        eligible=found.eligible,
        already_issued=found.already,
        to_issue=found.to_issue,
        to_issue_fen=found.to_issue_fen,
        assessment_lapsed=found.lapsed,
        budget_region_code=budget[0] if budget else None,
        budget_available_fen=budget[1] if budget else None,
    )


@router.get("/issuance-runs", response_model=list[IssuanceRunRead])
async def list_runs(
    session: SessionDep,
    region_code: Annotated[str, Query(max_length=12)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor, Role.service),
) -> list[IssuanceRunRead]:
    """The newest runs in a region and the regions under it, with their progress, so that
    whoever started one can leave the page and come back to it."""
    region = check_region(region_code)
    principal.ensure_region(region)
    runs = await service.recent_runs(session, region, limit)
    return [IssuanceRunRead.model_validate({**r.model_dump(), "run_id": str(r.id)}) for r in runs]


@router.get("/issuance-runs/{run_id}", response_model=IssuanceRunRead)
async def get_run(
    run_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor, Role.service),
) -> IssuanceRunRead:
    """A run's progress: status, eligible, issued, skipped, failed, chunks done."""
    run = await service.get_run(session, run_id)
    principal.ensure_region(run.region_code)
    return IssuanceRunRead.model_validate({**run.model_dump(), "run_id": str(run.id)})


@router.get("/issuance-runs/{run_id}/skips", response_model=list[IssuanceSkipRead])
async def run_skips(
    run_id: uuid.UUID,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    principal: Principal = require(Role.civil_affairs, Role.auditor, Role.service),
) -> list[IssuanceSkipRead]:
    """The people a run skipped and why (`assessment_lapsed`: the programme would pay them
    but their assessment had lapsed on the period's first day), at most `limit`."""
    run = await service.get_run(session, run_id)
    principal.ensure_region(run.region_code)
    return [
        IssuanceSkipRead(beneficiary_id=str(b), reason=reason)
        for b, reason in await service.run_skips(session, run_id, limit)
    ]


@router.get("/issuance-schedule", response_model=list[ScheduledIssuanceRead])
async def list_scheduled(
    session: SessionDep,
    period: Annotated[str | None, Query(max_length=7, description="YYYY-MM")] = None,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor, Role.service),
) -> list[ScheduledIssuanceRead]:
    """The scheduler's issuances (one per program, period and region) that concern the
    caller's region — those in it and those over it (a province's run issues in every city) —
    with the counts of each one's latest run, newest period first. A `failed` or
    `budget_exhausted` one needs a person: see `last_error` / `run_message`."""
    if period is not None:
        parse_period(period)
    if principal.role != Role.service and not principal.region:
        return []  # no region, no scope
    region = None if principal.role == Role.service else principal.region
    slots = await service.scheduled(session, region, period)
    return [
        ScheduledIssuanceRead.model_validate(
            {
                **dataclasses.asdict(s),
                "id": str(s.id),
                "run_id": None if s.run_id is None else str(s.run_id),
            }
        )
        for s in slots
    ]


@router.post("/vouchers/expire", response_model=ExpiryResult)
async def expire(
    db: DatabaseDep, principal: Principal = require(Role.civil_affairs, Role.service)
) -> ExpiryResult:
    """Lapse every voucher whose window has ended now and release its unused balance to the
    budget (`voucher.expired` events). The service also does this on its own every minute;
    this call (a province-level officer) runs it at once."""
    principal.ensure_region(province_code())
    return await service.expire_lapsed(db)
