"""Terminal credentials: issue, list, rename, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, ProviderID, TerminalID
from services.provider.service import terminals

router = APIRouter(tags=["terminals"])

_TERMINAL_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"description": "TERMINAL_NOT_FOUND"},
    409: {"description": "TERMINAL_ALREADY_REVOKED"},
}


@router.post(
    "/providers/{provider_id}/terminals",
    status_code=201,
    response_model=schemas.TerminalIssued,
    responses=ERRORS,
)
async def issue_terminal(
    provider_id: ProviderID,
    body: schemas.TerminalCreate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> schemas.TerminalIssued:
    """Issue a terminal credential to the provider (its own admin). The secret is in this
    response only; the terminal sends it as `Authorization: Bearer <secret>`."""
    return await terminals.issue_terminal(session, principal, provider_id, body.name)


@router.get(
    "/providers/{provider_id}/terminals", response_model=schemas.TerminalList, responses=ERRORS
)
async def list_terminals(
    provider_id: ProviderID,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.provider_staff, Role.civil_affairs),
) -> schemas.TerminalList:
    """The provider's terminals (never their secrets)."""
    return schemas.TerminalList(
        items=await terminals.list_terminals(session, principal, provider_id)
    )


@router.patch(
    "/providers/{provider_id}/terminals/{terminal_id}",
    response_model=schemas.TerminalRead,
    responses=_TERMINAL_ERRORS,
)
async def rename_terminal(
    provider_id: ProviderID,
    terminal_id: TerminalID,
    body: schemas.TerminalCreate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> schemas.TerminalRead:
    """Rename a terminal (its provider's admin); the secret does not change."""
    return await terminals.rename_terminal(session, principal, provider_id, terminal_id, body.name)


@router.post(
    "/providers/{provider_id}/terminals/{terminal_id}/revoke",
    response_model=schemas.TerminalRead,
    responses=_TERMINAL_ERRORS,
)
async def revoke_terminal(
    provider_id: ProviderID,
    terminal_id: TerminalID,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.civil_affairs),
) -> schemas.TerminalRead:
    """Revoke a terminal (its provider's admin, or an officer of the provider's region).
    Redemptions from it are refused from the voucher service's next directory poll."""
    return await terminals.revoke_terminal(session, principal, provider_id, terminal_id)
