"""Applying, the profile, the price list, the change log and the register."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.crypto import mask_phone
from services.common.errors import OutOfScope
from services.common.ids import new_uuid
from services.common.regions import is_known, is_valid_code_shape, region_covers, significant_prefix
from services.common.shards import province_code
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import (
    ApplicationRefused,
    FieldRequired,
    InvalidQuery,
    InvalidUscc,
    NothingToChange,
    ProviderExists,
    ProviderNotFound,
    ProviderRevoked,
    RegionOutsideProvince,
    UnknownRegion,
    UsccAlreadyRegistered,
)
from services.provider.models import Provider
from services.provider.repository import directory as directory_repo
from services.provider.repository import providers as providers_repo
from services.provider.repository import workflow as workflow_repo
from services.provider.repository.providers import NewProvider, PriceLine, ProfileColumns
from services.provider.service import bank_account, price_review, review_rules, uscc
from services.provider.service.access import (
    ensure_admin_of,
    ensure_insider,
    is_insider,
    load_provider,
)
from services.provider.service.pii import cipher, mask_account_number
from services.provider.service.vocabulary import ProviderStatus


def check_region(code: str) -> None:
    """A provider's region is a known GB/T 2260 code under the deployment's province."""
    if not is_valid_code_shape(code) or not is_known(code):
        raise UnknownRegion(field="region_code")
    if not region_covers(province_code(), code):
        raise RegionOutsideProvince(field="region_code")


def check_uscc(code: str) -> None:
    why = uscc.problem(code)
    if why:
        raise InvalidUscc(f"The unified social credit code {why}.", field="uscc")


def _price_lines(items: Sequence[schemas.ServiceItemCreate]) -> list[PriceLine]:
    return [
        PriceLine(
            code=i.code,
            name=i.name,
            category=i.category.value,
            unit=i.unit,
            price_fen=i.price_fen,
            max_per_visit=i.max_per_visit,
            variable_price=i.variable_price,
            max_price_fen=i.max_price_fen,
            home_visit=i.home_visit,
            min_minutes=i.min_minutes,
            serves_from=i.serves_from,
            serves_until=i.serves_until,
        )
        for i in items
    ]


def _price_list(lines: Sequence[PriceLine]) -> list[schemas.ServiceItemRead]:
    return [schemas.ServiceItemRead(**line) for line in lines]


async def apply(
    session: AsyncSession,
    principal: Principal,
    data: schemas.ProviderCreate,
    settings: ProviderSettings,
) -> schemas.ProviderCreated:
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
            raise OutOfScope(
                "The account is bound to an invalid provider id.", field="provider_id"
            ) from exc
        if await providers_repo.provider_id_exists(session, provider_id):
            raise ProviderExists(field="provider_id")
    else:
        provider_id = new_uuid()

    box = cipher(settings)
    context = str(provider_id).encode()
    version = await directory_repo.next_version(session)
    inserted = await providers_repo.insert_provider(
        session,
        NewProvider(
            id=provider_id,
            name=data.name,
            kind=data.kind.value,
            uscc=data.uscc,
            region_code=data.region_code,
            address=data.address,
            lat=data.lat,
            lon=data.lon,
            contact_name=data.contact.name,
            contact_phone_enc=box.encrypt(data.contact.phone, context=context),
            contact_phone_masked=mask_phone(data.contact.phone),
            bank_name=data.bank_account.bank_name,
            bank_account_name=data.bank_account.account_name,
            bank_account_number_enc=box.encrypt(data.bank_account.account_number, context=context),
            bank_account_number_masked=mask_account_number(data.bank_account.account_number),
            version=version,
            created_by=principal.sub,
        ),
    )
    if not inserted:
        if await providers_repo.provider_id_exists(session, provider_id):
            raise ProviderExists(field="provider_id")
        raise UsccAlreadyRegistered(field="uscc")
    lines = _price_lines(data.services)
    await providers_repo.replace_services(session, provider_id, lines)
    await providers_repo.insert_change(
        session,
        provider_id=provider_id,
        kind="price_list",
        detail={"services": lines},
        actor=principal.sub,
        version=version,
    )
    await workflow_repo.insert_status_change(
        session,
        provider_id=provider_id,
        from_status=None,
        to_status=ProviderStatus.applied.value,
        reason="application submitted",
        actor=principal.sub,
    )
    return schemas.ProviderCreated(id=str(provider_id), status=ProviderStatus.applied)


async def read(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    settings: ProviderSettings | None = None,
) -> schemas.ProviderRead:
    """A provider's profile. Anyone signed in sees an approved provider's public profile;
    its own staff, officers and finance of its region, auditors and services see every
    provider, with the contact phone and account number masked."""
    provider = await load_provider(session, provider_id)
    insider = is_insider(principal, provider)
    if not insider and provider.status != ProviderStatus.approved:
        raise ProviderNotFound(field="provider_id")
    lines = (await providers_repo.services_of(session, [provider_id])).get(provider_id, [])
    contact = bank = pending = reason = None
    if insider:
        reason = (await workflow_repo.last_reasons(session, [provider_id])).get(provider_id)
        contact = schemas.ContactRead(
            name=provider.contact_name, phone_masked=provider.contact_phone_masked
        )
        bank = schemas.BankAccountRead(
            bank_name=provider.bank_name,
            account_name=provider.bank_account_name,
            account_number_masked=provider.bank_account_number_masked,
        )
        if principal.role == Role.service and settings:
            # The ledger's payment files need the whole number; only a service ever sees it.
            bank.account_number = cipher(settings).decrypt(
                provider.bank_account_number_enc, context=str(provider_id).encode()
            )
        pending = await bank_account.pending_change(session, provider_id)
    return schemas.ProviderRead(
        id=str(provider_id),
        name=provider.name,
        kind=provider.kind,
        uscc=provider.uscc,
        region_code=provider.region_code,
        address=provider.address,
        lat=provider.lat,
        lon=provider.lon,
        status=provider.status,
        credit_points=provider.credit_points,
        contact=contact,
        bank_account=bank,
        bank_account_change_pending=pending,
        services=_price_list(lines),
        created_at=provider.created_at,
        updated_at=provider.updated_at,
        status_reason=reason,
        actions=review_actions(principal, provider),
    )


async def _lock_changeable(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> Provider:
    """Its own admin, the provider row locked, not revoked nor refused (both final)."""
    ensure_admin_of(principal, provider_id)
    provider = await load_provider(session, provider_id, lock=True)
    if provider.status == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    if provider.status == ProviderStatus.refused:
        raise ApplicationRefused(field="provider_id")
    return provider


def review_actions(principal: Principal, provider: Provider) -> list[str]:
    """The review steps this caller may take on this provider now (none for a caller who
    takes none: finance, auditors, services, staff)."""
    if principal.role == Role.civil_affairs and principal.covers_region(provider.region_code):
        return review_rules.allowed_actions(provider.status, officer=True)
    if principal.role == Role.provider_admin and principal.provider_id == str(provider.id):
        return review_rules.allowed_actions(provider.status, officer=False)
    return []


async def update_price_list(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    data: schemas.PriceListUpdate,
) -> list[schemas.ServiceItemRead] | schemas.PriceListChangeRead:
    """Replace the provider's price list (its own admin only): at once, answering the new
    list, unless it raises what public money pays on a reviewed list; then the pending
    change an officer decides (service/price_review.py)."""
    provider = await _lock_changeable(session, principal, provider_id)
    pending = await price_review.propose(
        session, principal, provider.status, provider_id, _price_lines(data.services)
    )
    if pending is not None:
        return pending
    return _price_list((await providers_repo.services_of(session, [provider_id]))[provider_id])


async def update_profile(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    data: schemas.ProviderUpdate,
    settings: ProviderSettings,
) -> schemas.ProviderRead:
    """Change the provider's name, address and location, contact or settlement account (its
    own admin). Each change is kept in the change log with the names of the fields changed;
    a changed location moves the provider in nearby search at once. A new settlement account
    only becomes a pending change for an officer to approve (service/bank_account.py)."""
    await _lock_changeable(session, principal, provider_id)
    context = str(provider_id).encode()
    values: ProfileColumns = {}
    if data.name is not None:
        values["name"] = data.name
    if data.address is not None:
        values["address"] = data.address
    if data.lat is not None and data.lon is not None:
        values["lat"], values["lon"] = data.lat, data.lon
    if data.contact is not None:
        values["contact_name"] = data.contact.name
        values["contact_phone_enc"] = cipher(settings).encrypt(data.contact.phone, context=context)
        values["contact_phone_masked"] = mask_phone(data.contact.phone)
    if not values and data.bank_account is None:
        raise NothingToChange("Nothing to change.", field="body")
    version = await directory_repo.next_version(session)
    if values:
        await providers_repo.update_profile(session, provider_id, values, version)
        fields = sorted(data.model_dump(exclude_none=True, exclude={"bank_account"}))
        await providers_repo.insert_change(
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
) -> list[schemas.ChangeRead]:
    ensure_insider(principal, await load_provider(session, provider_id))
    return [
        schemas.ChangeRead.model_validate(c, from_attributes=True)
        for c in await providers_repo.changes_of(session, provider_id)
    ]


async def registry(
    session: AsyncSession,
    principal: Principal,
    *,
    region_code: str | None,
    status: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
    ids: list[uuid.UUID] | None = None,
) -> schemas.RegistryPage:
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
            raise OutOfScope("No provider in your scope.", field="provider_id") from exc
    elif principal.role not in (Role.auditor, Role.service):
        raise FieldRequired("lat and lon are required.", field="lat")
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
    if ids is not None and len(ids) > 500:
        raise InvalidQuery("At most 500 ids a call.", field="id")
    rows = await providers_repo.registry_page(
        session,
        region_prefix=significant_prefix(region_code) if region_code else None,
        provider_id=provider_id,
        status=status,
        kind=kind,
        after=after,
        limit=limit + 1,
        ids=ids,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    reasons = await workflow_repo.last_reasons(session, [p.id for p in rows])
    return schemas.RegistryPage(
        items=[
            schemas.RegistryEntry(
                id=str(p.id),
                name=p.name,
                kind=p.kind,
                uscc=p.uscc,
                region_code=p.region_code,
                address=p.address,
                lat=p.lat,
                lon=p.lon,
                status=p.status,
                credit_points=p.credit_points,
                created_at=p.created_at,
                updated_at=p.updated_at,
                status_reason=reasons.get(p.id),
                actions=review_actions(principal, p),
            )
            for p in rows
        ],
        next_cursor=str(rows[-1].id) if more else None,
    )
