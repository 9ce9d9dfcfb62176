"""Applying, the profile, the price list, the change log and the register."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.crypto import mask_phone
from services.common.errors import Forbidden, InvalidInput
from services.common.ids import new_uuid
from services.common.regions import is_known, is_valid_code_shape, region_covers, significant_prefix
from services.common.settings import get_common_settings
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import (
    InvalidQuery,
    InvalidUscc,
    ProviderExists,
    ProviderNotFound,
    ProviderRevoked,
    RegionOutsideProvince,
    UnknownRegion,
    UsccAlreadyRegistered,
)
from services.provider.repository import providers as repo
from services.provider.service import bank_account, uscc
from services.provider.service.access import (
    cipher,
    ensure_admin_of,
    is_insider,
    load_provider,
    mask_account_number,
)
from services.provider.service.vocabulary import ProviderStatus


def check_region(code: str) -> None:
    """A provider's region is a known GB/T 2260 code under the deployment's province."""
    if not is_valid_code_shape(code) or not is_known(code):
        raise UnknownRegion(field="region_code")
    if not region_covers(get_common_settings().province_code, code):
        raise RegionOutsideProvince(field="region_code")


def check_uscc(code: str) -> None:
    why = uscc.problem(code)
    if why:
        raise InvalidUscc(f"The unified social credit code {why}.", field="uscc")


def _service_rows(items: list[schemas.ServiceItemCreate]) -> list[dict[str, Any]]:
    return [
        {
            "code": i.code,
            "name": i.name,
            "category": i.category.value,
            "unit": i.unit,
            "price_fen": i.price_fen,
        }
        for i in items
    ]


async def apply(
    session: AsyncSession,
    principal: Principal,
    data: schemas.ProviderCreate,
    settings: ProviderSettings,
) -> dict[str, Any]:
    """Register an application (status `applied`).

    An officer applies on a provider's behalf within their region. A provider admin applies
    for the provider their account is bound to (the `provider_id` of their token becomes the
    provider's id), or, with an unbound account, for a new provider.
    """
    check_uscc(data.uscc)
    check_region(data.region_code)
    if principal.role == Role.civil_affairs:
        principal.ensure_region(data.region_code)
        provider_id = new_uuid()
    elif principal.provider_id:
        try:
            provider_id = uuid.UUID(principal.provider_id)
        except ValueError as exc:
            raise Forbidden(
                "The account is bound to an invalid provider id.",
                code="OUT_OF_SCOPE",
                field="provider_id",
            ) from exc
        if await repo.provider_id_exists(session, provider_id):
            raise ProviderExists(field="provider_id")
    else:
        provider_id = new_uuid()

    box = cipher(settings)
    context = str(provider_id).encode()
    version = await repo.next_version(session)
    inserted = await repo.insert_provider(
        session,
        {
            "id": provider_id,
            "name": data.name,
            "kind": data.kind.value,
            "uscc": data.uscc,
            "region_code": data.region_code,
            "address": data.address,
            "lat": data.lat,
            "lon": data.lon,
            "contact_name": data.contact.name,
            "contact_phone_enc": box.encrypt(data.contact.phone, context=context),
            "contact_phone_masked": mask_phone(data.contact.phone),
            "bank_name": data.bank_account.bank_name,
            "bank_account_name": data.bank_account.account_name,
            "bank_account_number_enc": box.encrypt(
                data.bank_account.account_number, context=context
            ),
            "bank_account_number_masked": mask_account_number(data.bank_account.account_number),
            "version": version,
            "created_by": principal.sub,
        },
    )
    if not inserted:
        if await repo.provider_id_exists(session, provider_id):
            raise ProviderExists(field="provider_id")
        raise UsccAlreadyRegistered(field="uscc")
    services = _service_rows(data.services)
    await repo.replace_services(session, provider_id, services)
    await repo.insert_change(
        session,
        provider_id=provider_id,
        kind="price_list",
        detail={"services": services},
        actor=principal.sub,
        version=version,
    )
    await repo.insert_status_change(
        session,
        provider_id=provider_id,
        from_status=None,
        to_status=ProviderStatus.applied,
        reason="application submitted",
        actor=principal.sub,
    )
    return {"id": str(provider_id), "status": ProviderStatus.applied.value}


async def read(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    settings: ProviderSettings | None = None,
) -> dict[str, Any]:
    """A provider's profile. Anyone signed in sees an approved provider's public profile;
    its own staff, officers and finance of its region, auditors and services see every
    provider, with the contact phone and account number masked."""
    provider = await load_provider(session, provider_id)
    insider = is_insider(principal, provider)
    if not insider and provider["status"] != ProviderStatus.approved:
        raise ProviderNotFound(field="provider_id")
    services = (await repo.services_of(session, [provider_id])).get(str(provider_id), [])
    out = {
        k: provider[k]
        for k in (
            "name",
            "kind",
            "uscc",
            "region_code",
            "address",
            "lat",
            "lon",
            "status",
            "credit_points",
            "created_at",
            "updated_at",
        )
    }
    out["id"] = str(provider_id)
    out["services"] = services
    out["contact"] = (
        {"name": provider["contact_name"], "phone_masked": provider["contact_phone_masked"]}
        if insider
        else None
    )
    out["bank_account"] = (
        {
            "bank_name": provider["bank_name"],
            "account_name": provider["bank_account_name"],
            "account_number_masked": provider["bank_account_number_masked"],
        }
        if insider
        else None
    )
    out["bank_account_change_pending"] = (
        await bank_account.pending_change(session, provider_id) if insider else None
    )
    if out["bank_account"] is not None and principal.role == Role.service and settings:
        # The ledger's payment files need the whole number; only a service ever sees it.
        out["bank_account"]["account_number"] = cipher(settings).decrypt(
            await repo.bank_account_number_enc(session, provider_id),
            context=str(provider_id).encode(),
        )
    return out


async def update_price_list(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    data: schemas.PriceListUpdate,
) -> list[dict[str, Any]]:
    """Replace the provider's price list (its own admin only). The change reaches the
    directory feed, and so redemption, with a new version."""
    ensure_admin_of(principal, provider_id)
    provider = await load_provider(session, provider_id, lock=True)
    if provider["status"] == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    services = _service_rows(data.services)
    version = await repo.next_version(session)
    await repo.replace_services(session, provider_id, services)
    await repo.touch_provider(session, provider_id, version)
    await repo.insert_change(
        session,
        provider_id=provider_id,
        kind="price_list",
        detail={"services": services},
        actor=principal.sub,
        version=version,
    )
    return (await repo.services_of(session, [provider_id]))[str(provider_id)]


async def update_profile(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    data: schemas.ProviderUpdate,
    settings: ProviderSettings,
) -> dict[str, Any]:
    """Change the provider's name, address and location, contact or settlement account (its
    own admin). Each change is kept in the change log with the names of the fields changed;
    a changed location moves the provider in nearby search at once. A new settlement account
    only becomes a pending change for an officer to approve (service/bank_account.py)."""
    ensure_admin_of(principal, provider_id)
    provider = await load_provider(session, provider_id, lock=True)
    if provider["status"] == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    box = cipher(settings)
    context = str(provider_id).encode()
    values: dict[str, Any] = {}
    if data.name is not None:
        values["name"] = data.name
    if data.address is not None:
        values["address"] = data.address
    if data.lat is not None and data.lon is not None:
        values.update(lat=data.lat, lon=data.lon)
    if data.contact is not None:
        values.update(
            contact_name=data.contact.name,
            contact_phone_enc=box.encrypt(data.contact.phone, context=context),
            contact_phone_masked=mask_phone(data.contact.phone),
        )
    if not values and data.bank_account is None:
        raise InvalidInput("Nothing to change.", code="NOTHING_TO_CHANGE", field="body")
    version = await repo.next_version(session)
    if values:
        await repo.update_profile(session, provider_id, values, version)
        fields = sorted(data.model_dump(exclude_none=True, exclude={"bank_account"}))
        await repo.insert_change(
            session,
            provider_id=provider_id,
            kind="profile",
            detail={"fields": fields},
            actor=principal.sub,
            version=version,
        )
    if data.bank_account is not None:
        # never effective at once: pending until an officer approves (bank_account.py)
        await bank_account.request_change(
            session, principal, provider_id, data.bank_account, settings, version
        )
    return await read(session, principal, provider_id)


async def changes(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[dict[str, Any]]:
    provider = await load_provider(session, provider_id)
    if not is_insider(principal, provider):
        raise Forbidden(
            "This provider is outside your scope.", code="OUT_OF_SCOPE", field="provider_id"
        )
    return await repo.changes_of(session, provider_id)


async def registry(
    session: AsyncSession,
    principal: Principal,
    *,
    region_code: str | None,
    status: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """The register of providers, any status, for those who supervise or settle them: officers
    and finance of a region (their region by default, or a region inside it), auditors and
    services (everywhere), and a provider's own people (their provider only)."""
    provider_id = None
    if principal.role in (Role.civil_affairs, Role.finance):
        region_code = region_code or principal.region
        principal.ensure_region(region_code)
    elif principal.role in (Role.provider_admin, Role.provider_staff, Role.terminal):
        try:
            provider_id = uuid.UUID(principal.provider_id or "")
        except ValueError as exc:
            raise Forbidden(
                "No provider in your scope.", code="OUT_OF_SCOPE", field="provider_id"
            ) from exc
    elif principal.role not in (Role.auditor, Role.service):
        raise InvalidInput("lat and lon are required.", code="FIELD_REQUIRED", field="lat")
    if region_code is not None and not is_valid_code_shape(region_code):
        raise InvalidQuery("region_code is not a division code.", field="region_code")
    after = None
    if cursor:
        try:
            after = uuid.UUID(cursor)
        except ValueError as exc:
            raise InvalidQuery("cursor is not valid.", field="cursor") from exc
    if not 1 <= limit <= 500:
        raise InvalidQuery("limit must be between 1 and 500.", field="limit")
    rows = await repo.registry_page(
        session,
        region_prefix=significant_prefix(region_code) if region_code else None,
        provider_id=provider_id,
        status=status,
        kind=kind,
        after=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [{**r, "id": str(r["id"])} for r in rows],
        "next_cursor": str(rows[-1]["id"]) if more else None,
    }
