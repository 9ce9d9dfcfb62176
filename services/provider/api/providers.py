"""Routes of the provider service. Rules are in service.py; this file only maps HTTP to them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.common.errors import InvalidInput
from services.provider import schemas
from services.provider import service as provider_service
from services.provider.config import ProviderSettings
from services.provider.service.vocabulary import ProviderKind, ProviderStatus, ServiceCategory

router = APIRouter(prefix="/v1")

ProviderID = Annotated[uuid.UUID, Path(description="The provider's id.")]
TerminalID = Annotated[uuid.UUID, Path(description="The terminal's id.")]
ChangeID = Annotated[uuid.UUID, Path(description="The bank account change's id.")]

ANYONE = tuple(Role)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "UNAUTHENTICATED, BEARER_TOKEN_EXPIRED, BEARER_TOKEN_INVALID"},
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE"},
    422: {"description": "VALIDATION_ERROR and the codes listed in services/provider/errors.py"},
}


def _settings(request: Request) -> ProviderSettings:
    return request.app.state.settings


@router.post(
    "/providers",
    status_code=201,
    response_model=schemas.ProviderCreated,
    tags=["providers"],
    responses={**_ERRORS, 409: {"description": "USCC_ALREADY_REGISTERED, PROVIDER_EXISTS"}},
)
async def apply(
    body: schemas.ProviderCreate,
    request: Request,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.civil_affairs),
) -> dict[str, Any]:
    """Apply to become a provider (status `applied`).

    The unified social credit code must carry a valid GB 32100-2015 check character and the
    region must be a known division of the deployment's province. An officer applies within
    their region. Contact phone and account number are stored encrypted and shown masked.
    """
    return await provider_service.apply(session, principal, body, _settings(request))


@router.get(
    "/providers",
    response_model=schemas.NearbyPage | schemas.RegistryPage,
    tags=["providers"],
    responses=_ERRORS,
)
async def search(
    request: Request,
    session: SessionDep,
    lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)] = None,
    radius_m: Annotated[int | None, Query(description="Default 1,000 m.")] = None,
    kind: ProviderKind | None = None,
    category: ServiceCategory | None = None,
    limit: int | None = None,
    status: Annotated[ProviderStatus | None, Query(description="Register only.")] = None,
    region_code: Annotated[str | None, Query(description="Register only.")] = None,
    cursor: Annotated[str | None, Query(description="Register only.")] = None,
    principal: Principal = require(*ANYONE),
) -> dict[str, Any]:
    """Nearby search, or the register.

    With `lat` and `lon` (anyone signed in): approved providers within `radius_m` of the
    point (the 15-minute care circle), optionally of one kind or offering one service
    category, nearest first, each with its distance in metres and its price list.

    Without them: the register of providers of every status (filter by `status`, `kind`,
    `region_code`; page with `cursor`), for officers and finance of a region, auditors,
    services, and a provider's own people (their own provider only).
    """
    if lat is None and lon is None:
        return await provider_service.registry(
            session,
            principal,
            region_code=region_code,
            status=status.value if status else None,
            kind=kind.value if kind else None,
            cursor=cursor,
            limit=100 if limit is None else limit,
        )
    if lat is None or lon is None:
        raise InvalidInput(
            "lat and lon go together.", code="FIELD_REQUIRED", field="lat" if lat is None else "lon"
        )
    items = await provider_service.nearby(
        session,
        _settings(request),
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        kind=kind.value if kind else None,
        category=category.value if category else None,
        limit=limit,
    )
    return {"items": items}


@router.get(
    "/providers/{provider_id}",
    response_model=schemas.ProviderRead,
    tags=["providers"],
    responses=_ERRORS,
)
async def read(
    provider_id: ProviderID,
    session: SessionDep,
    request: Request,
    principal: Principal = require(*ANYONE),
) -> dict[str, Any]:
    """A provider's profile and price list. Approved providers are visible to anyone signed
    in; the contact and settlement account (masked) only to its own people, officers and
    finance of its region, auditors and services."""
    return await provider_service.read(session, principal, provider_id, _settings(request))


@router.patch(
    "/providers/{provider_id}",
    response_model=schemas.ProviderRead,
    tags=["providers"],
    responses=_ERRORS,
)
async def update_profile(
    provider_id: ProviderID,
    body: schemas.ProviderUpdate,
    request: Request,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> dict[str, Any]:
    """Change the profile: name, address and location (together), contact, settlement
    account (the provider's own admin). Only the fields sent change; each change is logged.
    A new settlement account does not take effect: it is `bank_account_change_pending`
    until a civil-affairs officer of the region approves it; payments keep going to
    `bank_account`, the last approved one."""
    return await provider_service.update_profile(
        session, principal, provider_id, body, _settings(request)
    )


@router.get(
    "/providers/{provider_id}/changes",
    response_model=schemas.ChangePage,
    tags=["providers"],
    responses=_ERRORS,
)
async def changes(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*ANYONE)
) -> dict[str, Any]:
    """The change log of the price list (each whole list) and the profile (the fields
    changed), oldest first, with who changed it and when."""
    return {"items": await provider_service.changes(session, principal, provider_id)}


@router.get(
    "/providers/{provider_id}/bank-account-changes",
    response_model=schemas.BankAccountChangePage,
    tags=["providers"],
    responses=_ERRORS,
)
async def bank_account_changes(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*ANYONE)
) -> dict[str, Any]:
    """The settlement account changes asked for this provider, newest first, with their
    decision (pending, approved, rejected, superseded), who asked and who decided; account
    numbers masked. For its own people, officers and finance of its region, auditors."""
    return {"items": await provider_service.bank_account_changes(session, principal, provider_id)}


@router.get(
    "/bank-account-changes",
    response_model=schemas.PendingBankAccountChangePage,
    tags=["workflow"],
    responses=_ERRORS,
)
async def pending_bank_account_changes(
    session: SessionDep,
    region_code: Annotated[str | None, Query(description="Default: your region.")] = None,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor),
) -> dict[str, Any]:
    """Settlement account changes waiting for an officer's decision within a region (yours
    by default, or one inside it), oldest request first, with the provider and the account
    it is paid to now; account numbers masked. Officers and finance of the region,
    auditors."""
    return {
        "items": await provider_service.pending_bank_account_changes(
            session, principal, region_code
        )
    }


_BANK_ERRORS = {
    **_ERRORS,
    403: {"description": "ROLE_NOT_ALLOWED, OUT_OF_SCOPE, MAKER_CHECKER_VIOLATION"},
    404: {"description": "PROVIDER_NOT_FOUND, BANK_CHANGE_NOT_FOUND"},
    409: {"description": "BANK_CHANGE_NOT_PENDING, PROVIDER_REVOKED"},
}


@router.post(
    "/providers/{provider_id}/bank-account-changes/{change_id}/approve",
    response_model=schemas.BankAccountChangeRead,
    tags=["workflow"],
    responses=_BANK_ERRORS,
)
async def approve_bank_account_change(
    provider_id: ProviderID,
    change_id: ChangeID,
    session: SessionDep,
    body: schemas.BankAccountDecision | None = None,
    principal: Principal = require(Role.civil_affairs),
) -> dict[str, Any]:
    """Approve a pending settlement account change (a civil-affairs officer of the
    provider's region, not the person who asked): payments go to it from now on."""
    return await provider_service.decide_bank_change(
        session,
        principal,
        provider_id,
        change_id,
        approve=True,
        reason=body.reason if body else None,
    )


@router.post(
    "/providers/{provider_id}/bank-account-changes/{change_id}/reject",
    response_model=schemas.BankAccountChangeRead,
    tags=["workflow"],
    responses=_BANK_ERRORS,
)
async def reject_bank_account_change(
    provider_id: ProviderID,
    change_id: ChangeID,
    body: schemas.BankAccountRejection,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> dict[str, Any]:
    """Reject a pending settlement account change, with the reason (a civil-affairs officer
    of the provider's region, not the person who asked); the approved account stays."""
    return await provider_service.decide_bank_change(
        session, principal, provider_id, change_id, approve=False, reason=body.reason
    )


@router.put(
    "/providers/{provider_id}/services",
    response_model=list[schemas.ServiceItemRead],
    tags=["providers"],
    responses=_ERRORS,
)
async def update_price_list(
    provider_id: ProviderID,
    body: schemas.PriceListUpdate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> list[dict[str, Any]]:
    """Replace the provider's price list (the provider's own admin). Redemption sees the new
    prices at its next directory poll."""
    return await provider_service.update_price_list(session, principal, provider_id, body)


async def _status(
    action: str,
    provider_id: uuid.UUID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal,
) -> dict[str, Any]:
    return await provider_service.change_status(
        session, principal, provider_id, action, body.reason
    )


_STATUS_ERRORS = {
    **_ERRORS,
    404: {"description": "PROVIDER_NOT_FOUND"},
    409: {"description": "ILLEGAL_TRANSITION"},
}


@router.post(
    "/providers/{provider_id}/approve",
    response_model=schemas.StatusChanged,
    tags=["workflow"],
    responses=_STATUS_ERRORS,
)
async def approve(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> dict[str, Any]:
    """Approve an application or lift a suspension (officer of the provider's region)."""
    return await _status("approve", provider_id, body, session, principal)


@router.post(
    "/providers/{provider_id}/suspend",
    response_model=schemas.StatusChanged,
    tags=["workflow"],
    responses=_STATUS_ERRORS,
)
async def suspend(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> dict[str, Any]:
    """Suspend an approved provider (officer of its region). Redemptions at it are refused
    from the voucher service's next directory poll."""
    return await _status("suspend", provider_id, body, session, principal)


@router.post(
    "/providers/{provider_id}/revoke",
    response_model=schemas.StatusChanged,
    tags=["workflow"],
    responses=_STATUS_ERRORS,
)
async def revoke(
    provider_id: ProviderID,
    body: schemas.StatusChangeCreate,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> dict[str, Any]:
    """Revoke a provider for good, or refuse an application (officer of its region)."""
    return await _status("revoke", provider_id, body, session, principal)


@router.get(
    "/providers/{provider_id}/history",
    response_model=schemas.HistoryPage,
    tags=["workflow"],
    responses=_ERRORS,
)
async def history(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*ANYONE)
) -> dict[str, Any]:
    """Every status the provider had, oldest first: from, to, reason, who, when, and whether
    the change was automatic (a credit threshold)."""
    return {"items": await provider_service.history(session, principal, provider_id)}


@router.post(
    "/providers/{provider_id}/credit-events",
    status_code=201,
    response_model=schemas.CreditRecord,
    tags=["credit"],
    responses=_ERRORS,
)
async def add_credit_event(
    provider_id: ProviderID,
    body: schemas.CreditEventCreate,
    request: Request,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> dict[str, Any]:
    """Add a warning, violation or sanction to the provider's credit record (officer of its
    region). Reaching the configured threshold of points suspends an approved provider."""
    return await provider_service.add_credit_event(
        session, principal, provider_id, body, _settings(request)
    )


@router.get(
    "/providers/{provider_id}/credit",
    response_model=schemas.CreditRecord,
    tags=["credit"],
    responses=_ERRORS,
)
async def credit(
    provider_id: ProviderID,
    request: Request,
    session: SessionDep,
    principal: Principal = require(*ANYONE),
) -> dict[str, Any]:
    """The provider's credit record: its points, the threshold, every event."""
    return await provider_service.credit_record(session, principal, provider_id, _settings(request))


@router.post(
    "/providers/{provider_id}/terminals",
    status_code=201,
    response_model=schemas.TerminalIssued,
    tags=["terminals"],
    responses=_ERRORS,
)
async def issue_terminal(
    provider_id: ProviderID,
    body: schemas.TerminalCreate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> dict[str, Any]:
    """Issue a terminal credential to the provider (its own admin). The secret is in this
    response only; the terminal sends it as `Authorization: Bearer <secret>`."""
    return await provider_service.issue_terminal(session, principal, provider_id, body.name)


@router.get(
    "/providers/{provider_id}/terminals",
    response_model=schemas.TerminalList,
    tags=["terminals"],
    responses=_ERRORS,
)
async def list_terminals(
    provider_id: ProviderID,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.provider_staff, Role.civil_affairs),
) -> dict[str, Any]:
    """The provider's terminals (never their secrets)."""
    return {"items": await provider_service.list_terminals(session, principal, provider_id)}


@router.patch(
    "/providers/{provider_id}/terminals/{terminal_id}",
    response_model=schemas.TerminalRead,
    tags=["terminals"],
    responses={
        **_ERRORS,
        404: {"description": "TERMINAL_NOT_FOUND"},
        409: {"description": "TERMINAL_ALREADY_REVOKED"},
    },
)
async def rename_terminal(
    provider_id: ProviderID,
    terminal_id: TerminalID,
    body: schemas.TerminalCreate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> dict[str, Any]:
    """Rename a terminal (its provider's admin); the secret does not change."""
    return await provider_service.rename_terminal(
        session, principal, provider_id, terminal_id, body.name
    )


@router.post(
    "/providers/{provider_id}/terminals/{terminal_id}/revoke",
    response_model=schemas.TerminalRead,
    tags=["terminals"],
    responses={
        **_ERRORS,
        404: {"description": "TERMINAL_NOT_FOUND"},
        409: {"description": "TERMINAL_ALREADY_REVOKED"},
    },
)
async def revoke_terminal(
    provider_id: ProviderID,
    terminal_id: TerminalID,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.civil_affairs),
) -> dict[str, Any]:
    """Revoke a terminal (its provider's admin, or an officer of the provider's region).
    Redemptions from it are refused from the voucher service's next directory poll."""
    return await provider_service.revoke_terminal(session, principal, provider_id, terminal_id)


@router.get(
    "/internal/directory",
    response_model=schemas.DirectoryFeed,
    tags=["internal"],
    responses=_ERRORS,
)
async def directory(
    session: SessionDep,
    since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    _: Principal = require(Role.service),
) -> dict[str, Any]:
    """Everything changed after directory version `since` (0: everything): providers with
    their price lists, and terminals with the SHA-256 of their secrets. See
    docs/architecture.md, "Provider directory"."""
    return await provider_service.directory(session, since)
