"""Routes: programs (versioned configuration)."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.common.settings import get_common_settings
from services.voucher.schemas.programs import ProgramRead, ProgramUpdate, ProgramVersionRead
from services.voucher.service import programs as service

router = APIRouter(tags=["programs"])
READERS = (Role.civil_affairs, Role.finance, Role.auditor, Role.service)


@router.get("/programs", response_model=list[ProgramRead])
async def list_programs(
    session: SessionDep, principal: Principal = require(*READERS)
) -> list[ProgramRead]:
    """Every program with its current configuration and version."""
    return [
        ProgramRead.model_validate(p, from_attributes=True)
        for p in await service.list_rows(session)
    ]


@router.get("/programs/{code}", response_model=ProgramRead)
async def get_program(
    code: str, session: SessionDep, principal: Principal = require(*READERS)
) -> ProgramRead:
    """One program's current configuration."""
    return ProgramRead.model_validate(await service.get_row(session, code), from_attributes=True)


@router.get("/programs/{code}/versions", response_model=list[ProgramVersionRead])
async def program_history(
    code: str, session: SessionDep, principal: Principal = require(*READERS)
) -> list[ProgramVersionRead]:
    """Every version the program ever had: who changed it, when and why."""
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
    """Change a program's configuration (a province-level officer only). Writes a new
    version with the reason; vouchers already issued keep the rules they were issued under.
    `expected_version` refuses the change if someone else changed it first (409)."""
    principal.ensure_region(get_common_settings().province_code)
    program = await service.update(
        session, code, body.config, body.reason, principal.sub, body.expected_version
    )
    return ProgramRead.model_validate(program, from_attributes=True)
