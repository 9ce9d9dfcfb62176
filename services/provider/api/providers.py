"""Providers: applying, nearby search and the register, the profile, the price list and the
change log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ANYONE, ERRORS, INSIDERS, ProviderID, SettingsDep
from services.provider.errors import FieldRequired
from services.provider.service import registry
from services.provider.service import search as search_service
from services.provider.service.vocabulary import ProviderKind, ProviderStatus, ServiceCategory

router = APIRouter(tags=["providers"])


@router.post(
    "/providers",
    status_code=201,
    response_model=schemas.ProviderCreated,
    responses={**ERRORS, 409: {"description": "USCC_ALREADY_REGISTERED, PROVIDER_EXISTS"}},
)
async def apply(
    body: schemas.ProviderCreate,
    settings: SettingsDep,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin, Role.civil_affairs),
) -> schemas.ProviderCreated:
    """Apply to become a provider (status `applied`).

    The unified social credit code must carry a valid GB 32100-2015 check character and the
    region must be a known division of the deployment's province. An officer applies within
    their region. Contact phone and account number are stored encrypted and shown masked.
    """
    return await registry.apply(session, principal, body, settings)


@router.get(
    "/providers",
    response_model=schemas.NearbyPage | schemas.RegistryPage,
    responses=ERRORS,
)
async def search(
    settings: SettingsDep,
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
    ids: Annotated[
        list[uuid.UUID] | None,
        Query(
            alias="id",
            description="Register only: just these providers (repeat `id`, at most 500), "
            "those of them in the caller's scope.",
        ),
    ] = None,
    principal: Principal = require(*ANYONE),
) -> schemas.NearbyPage | schemas.RegistryPage:
    """Nearby search, or the register.

    With `lat` and `lon` (anyone signed in): approved providers within `radius_m` of the
    point (the 15-minute care circle), optionally of one kind or offering one service
    category, nearest first, each with its distance in metres and its price list.

    Without them: the register of providers of every status (filter by `status`, `kind`,
    `region_code`, or name the providers with `id`; page with `cursor`), for officers and
    finance of a region, auditors, services, and a provider's own people (their own provider
    only). A page of names for a list (finance's claims and aging list) is one call, not one
    a provider.
    """
    if lat is None and lon is None:
        return await registry.registry(
            session,
            principal,
            region_code=region_code,
            status=status.value if status else None,
            kind=kind.value if kind else None,
            cursor=cursor,
            limit=100 if limit is None else limit,
            ids=ids,
        )
    if lat is None or lon is None:
        raise FieldRequired("lat and lon go together.", field="lat" if lat is None else "lon")
    items = await search_service.nearby(
        session,
        settings,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        kind=kind.value if kind else None,
        category=category.value if category else None,
        limit=limit,
    )
    return schemas.NearbyPage(items=items)


@router.get("/providers/{provider_id}", response_model=schemas.ProviderRead, responses=ERRORS)
async def read(
    provider_id: ProviderID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = require(*ANYONE),
) -> schemas.ProviderRead:
    """A provider's profile and price list. Approved providers are visible to anyone signed
    in; the contact and settlement account (masked) only to its own people, officers and
    finance of its region, auditors and services."""
    return await registry.read(session, principal, provider_id, settings)


@router.patch("/providers/{provider_id}", response_model=schemas.ProviderRead, responses=ERRORS)
async def update_profile(
    provider_id: ProviderID,
    body: schemas.ProviderUpdate,
    settings: SettingsDep,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> schemas.ProviderRead:
    """Change the profile: name, address and location (together), contact, settlement
    account (the provider's own admin). Only the fields sent change; each change is logged.
    A new settlement account does not take effect: it is `bank_account_change_pending`
    until a civil-affairs officer of the region approves it; payments keep going to
    `bank_account`, the last approved one."""
    return await registry.update_profile(session, principal, provider_id, body, settings)


@router.get("/providers/{provider_id}/changes", response_model=schemas.ChangePage, responses=ERRORS)
async def changes(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*INSIDERS)
) -> schemas.ChangePage:
    """The change log of the price list (each whole list) and the profile (the fields
    changed), oldest first, with who changed it and when."""
    return schemas.ChangePage(items=await registry.changes(session, principal, provider_id))


@router.put(
    "/providers/{provider_id}/services",
    response_model=list[schemas.ServiceItemRead],
    responses={
        **ERRORS,
        202: {
            "model": schemas.PriceListChangeRead,
            "description": "The list raises what public money pays: pending an officer",
        },
    },
)
async def update_price_list(
    provider_id: ProviderID,
    body: schemas.PriceListUpdate,
    session: SessionDep,
    principal: Principal = require(Role.provider_admin),
) -> Any:
    """Replace the provider's price list (the provider's own admin). A list that raises
    nothing answers 200 with the new list; redemption sees it at its next directory poll. A
    list that raises what a bill may cost (a dearer or new item, a higher ceiling, more
    units a bill, another category) on an approved or suspended provider answers 202 with
    the pending change: bills keep the approved prices until an officer of the region
    approves it (docs/architecture.md, "Price list changes")."""
    done = await registry.update_price_list(session, principal, provider_id, body)
    if isinstance(done, schemas.PriceListChangeRead):
        return JSONResponse(done.model_dump(mode="json"), status_code=202)
    return done
