"""Terminal credentials: issue, list, rename, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, ProviderID, SettingsDep, TerminalID
from services.provider.service import terminals
from services.provider.service.pii import cipher

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
    responses={
        **ERRORS,
        200: {"description": "A repeat under the same Idempotency-Key: the same terminal"},
        409: {
            "description": "PROVIDER_REVOKED, APPLICATION_REFUSED, IDEMPOTENCY_KEY_REUSED, "
            "TERMINAL_SECRET_GONE, TERMINAL_ALREADY_REVOKED"
        },
    },
)
async def issue_terminal(
    provider_id: ProviderID,
    body: schemas.TerminalCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    principal: Principal = require(Role.provider_admin),
) -> schemas.TerminalIssued:
    """Issue a terminal credential to the provider (its own admin). The secret is in this
    response only; the terminal sends it as `Authorization: Bearer <secret>`.

    With an `Idempotency-Key` header (a form pressed twice, an answer lost on the way), the
    same key and name again within 10 minutes answer 200 with the same terminal and secret
    (header `Idempotent-Replayed: true`) instead of issuing another; the secret is kept
    sealed (encrypted) for those 10 minutes only. Later the repeat is 409
    TERMINAL_SECRET_GONE; the same key with another name, 409 IDEMPOTENCY_KEY_REUSED."""
    issued, repeated = await terminals.issue_terminal(
        session,
        principal,
        provider_id,
        body.name,
        box=cipher(settings),
        idempotency_key=idempotency_key,
    )
    if repeated:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return issued


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
