"""Routes: programs (versioned configuration), created and previewed by region."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.common.shards import province_code
from services.voucher.errors import InvalidPeriod, ProgramNotFound
from services.voucher.models import Program
from services.voucher.schemas.programs import (
    ProgramCreate,
    ProgramCreated,
    ProgramPreview,
    ProgramPreviewRequest,
    ProgramRead,
    ProgramUpdate,
    ProgramVersionRead,
)
from services.voucher.service import programs as service
from services.voucher.service.identity import check_region
from services.voucher.service.periods import current_period, parse_period

router = APIRouter(tags=["programs"])
READERS = (Role.civil_affairs, Role.finance, Role.auditor, Role.service)


def _visible(principal: Principal, row: Program) -> bool:
    if principal.role == Role.service:
        return True
    return bool(principal.region) and service.concerns(row, principal.region or "")


async def _readable(session: SessionDep, principal: Principal, code: str) -> Program:
    """A programme the caller may read; another region's own programme answers as unknown."""
    row = await service.get_row(session, code)
    if not _visible(principal, row):
        raise ProgramNotFound(field="program_code")
    return row


@router.get("/programs", response_model=list[ProgramRead])
async def list_programs(
    session: SessionDep, principal: Principal = require(*READERS)
) -> list[ProgramRead]:
    """The programmes that concern the caller's region (the province's, and those of the
    regions above or below theirs) with their current configuration and version."""
    return [
        ProgramRead.model_validate(p, from_attributes=True)
        for p in await service.list_rows(session)
        if _visible(principal, p)
    ]


@router.post("/programs", response_model=ProgramCreated, status_code=201)
async def create_program(
    body: ProgramCreate, session: SessionDep, principal: Principal = require(Role.civil_affairs)
) -> ProgramCreated:
    """Publish a new programme of a region (an officer of that region): the province's
    applies in every city of it; a city's or county's applies only there, funded by the budget
    finance appropriates to it. Version 1 takes effect at once; the scheduler issues it from
    its next due time. 409 PROGRAM_EXISTS if the code is taken (publish a version with PUT)."""
    region = check_region(body.region_code)
    principal.ensure_region(region)
    row = await service.create(
        session,
        body.code,
        region,
        body.config,
        body.reason,
        principal.sub,
        province_code(),
    )
    return ProgramCreated(code=row.code, version=row.version)


@router.post("/programs/preview", response_model=ProgramPreview)
async def preview_program(
    body: ProgramPreviewRequest,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs, Role.finance),
) -> ProgramPreview:
    """Before publishing: how many enrolled people in a region (of the caller's scope) the
    configuration would cover in a period (default this month), by care setting, and what the
    period would cost at most (each person's face value)."""
    region = check_region(body.region_code)
    principal.ensure_region(region)
    period = body.period or current_period()
    parse_period(period)
    people, by_setting, cost = await service.preview(session, body.config, region, period)
    return ProgramPreview(
        region_code=region,
        period=period,
        people=people,
        by_care_setting=by_setting,
        monthly_cost_fen=cost,
    )


@router.get("/programs/{code}", response_model=ProgramRead)
async def get_program(
    code: str, session: SessionDep, principal: Principal = require(*READERS)
) -> ProgramRead:
    """One program's current configuration."""
    row = await _readable(session, principal, code)
    return ProgramRead.model_validate(row, from_attributes=True)


@router.get("/programs/{code}/versions", response_model=list[ProgramVersionRead])
async def program_history(
    code: str, session: SessionDep, principal: Principal = require(*READERS)
) -> list[ProgramVersionRead]:
    """Every version the program ever had: who changed it, when and why."""
    await _readable(session, principal, code)
    return [
        ProgramVersionRead.model_validate(v, from_attributes=True)
        for v in await service.history(session, code)
    ]


@router.put("/programs/{code}", response_model=ProgramRead)
async def update_program(
    code: str,
    body: ProgramUpdate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> ProgramRead:
    """Change a program's configuration (an officer of its region: the province's programmes
    a province-level officer). Writes a new version with the reason; vouchers already issued
    keep the rules they were issued under. With `effective_from` (YYYY-MM, this period or a
    later one) the version governs runs from that period on; runs for earlier periods keep
    the version in force then. `expected_version` refuses the change if someone else changed
    it first (409)."""
    row = await _readable(session, principal, code)
    principal.ensure_region(row.region_code or province_code())
    if body.effective_from is not None:
        try:
            parse_period(body.effective_from)
        except InvalidPeriod as exc:
            raise InvalidPeriod(field="effective_from") from exc
        if body.effective_from < current_period():
            raise InvalidPeriod(
                "A new version takes effect this period or later.", field="effective_from"
            )
    program = await service.update(
        session,
        code,
        body.config,
        body.reason,
        principal.sub,
        body.expected_version,
        body.effective_from,
    )
    return ProgramRead.model_validate(program, from_attributes=True)
