"""The provider service's rules: applying, the status workflow, the credit record, price lists,
terminals, nearby search and the directory feed. No FastAPI here; SQL is in repository.py.

Every change transaction locks the provider row first and then takes the next directory
version (see repository.py for the lock order); the change is stamped with that version so
that the voucher service, polling `directory(since)`, sees it within its poll interval.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role, hash_terminal_secret, new_terminal_secret
from services.common.crypto import PiiCipher, mask_phone
from services.common.errors import Forbidden, InvalidInput
from services.common.ids import new_id, new_uuid
from services.common.regions import is_known, is_valid_code_shape, region_covers
from services.common.settings import get_common_settings
from services.provider import repository as repo
from services.provider import schemas, uscc
from services.provider.config import ProviderSettings
from services.provider.errors import (
    IllegalTransition,
    InvalidQuery,
    InvalidUscc,
    ProviderExists,
    ProviderNotFound,
    ProviderRevoked,
    RegionOutsideProvince,
    TerminalAlreadyRevoked,
    TerminalNotFound,
    UnknownRegion,
    UsccAlreadyRegistered,
)
from services.provider.vocabulary import ACTIONS, TRANSITIONS, ProviderStatus


@lru_cache(maxsize=4)
def _cipher(encryption_key: str, hash_key: str) -> PiiCipher:
    return PiiCipher(encryption_key, hash_key)


def cipher(settings: ProviderSettings) -> PiiCipher:
    return _cipher(settings.pii_encryption_key, settings.pii_hash_key)


def mask_account_number(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


# --- who may see and change what ----------------------------------------------------------


def is_insider(principal: Principal, provider: dict[str, Any]) -> bool:
    """May this caller see the provider's private parts (contact, bank, history, credit)?"""
    if principal.role in (Role.service, Role.auditor):
        return True
    if principal.role in (Role.provider_admin, Role.provider_staff, Role.terminal):
        return principal.provider_id == str(provider["id"])
    if principal.role in (Role.civil_affairs, Role.finance):
        return principal.covers_region(provider["region_code"])
    return False


async def _load(session: AsyncSession, provider_id: uuid.UUID, *, lock: bool = False
                ) -> dict[str, Any]:
    row = await repo.get_provider(session, provider_id, lock=lock)
    if row is None:
        raise ProviderNotFound(field="provider_id")
    return row


def _ensure_officer_of(principal: Principal, provider: dict[str, Any]) -> None:
    if principal.role != Role.civil_affairs:
        raise Forbidden("Only a civil-affairs officer may do this.", code="ROLE_NOT_ALLOWED")
    principal.ensure_region(provider["region_code"])


def _ensure_admin_of(principal: Principal, provider_id: uuid.UUID) -> None:
    if principal.role != Role.provider_admin:
        raise Forbidden("Only the provider's admin may do this.", code="ROLE_NOT_ALLOWED")
    principal.ensure_provider(str(provider_id))


# --- applying -----------------------------------------------------------------------------


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
    return [{"code": i.code, "name": i.name, "category": i.category.value, "unit": i.unit,
             "price_fen": i.price_fen} for i in items]


async def apply(session: AsyncSession, principal: Principal, data: schemas.ProviderCreate,
                settings: ProviderSettings) -> dict[str, Any]:
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
            raise Forbidden("The account is bound to an invalid provider id.",
                            code="OUT_OF_SCOPE", field="provider_id") from exc
        if await repo.provider_id_exists(session, provider_id):
            raise ProviderExists(field="provider_id")
    else:
        provider_id = new_uuid()

    box = cipher(settings)
    context = str(provider_id).encode()
    version = await repo.next_version(session)
    inserted = await repo.insert_provider(session, {
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
        "bank_account_number_enc": box.encrypt(data.bank_account.account_number,
                                               context=context),
        "bank_account_number_masked": mask_account_number(data.bank_account.account_number),
        "version": version,
        "created_by": principal.sub,
    })
    if not inserted:
        if await repo.provider_id_exists(session, provider_id):
            raise ProviderExists(field="provider_id")
        raise UsccAlreadyRegistered(field="uscc")
    await repo.replace_services(session, provider_id, _service_rows(data.services))
    await repo.insert_status_change(session, provider_id=provider_id, from_status=None,
                                    to_status=ProviderStatus.applied,
                                    reason="application submitted", actor=principal.sub)
    return {"id": str(provider_id), "status": ProviderStatus.applied.value}


# --- the status workflow ------------------------------------------------------------------


async def change_status(session: AsyncSession, principal: Principal, provider_id: uuid.UUID,
                        action: str, reason: str) -> dict[str, Any]:
    """Move a provider along applied -> approved -> suspended <-> approved -> revoked.

    Only an officer whose region covers the provider's may do it, with a reason, which is kept
    in the history. Anything else the workflow does not list is refused (ILLEGAL_TRANSITION);
    the database's trigger refuses the same set.
    """
    provider = await _load(session, provider_id, lock=True)
    _ensure_officer_of(principal, provider)
    target = ACTIONS[action]
    current = provider["status"]
    if target not in TRANSITIONS[ProviderStatus(current)]:
        raise IllegalTransition(
            f"A provider cannot go from {current} to {target.value}.", field="status",
            details={"from": current, "to": target.value})
    await _set_status(session, provider_id, current, target.value, reason, principal.sub)
    return {"id": str(provider_id), "status": target.value, "previous_status": current}


async def _set_status(session: AsyncSession, provider_id: uuid.UUID, current: str, target: str,
                      reason: str, actor: str, *, automatic: bool = False) -> None:
    version = await repo.next_version(session)
    await repo.set_status(session, provider_id, target, version)
    await repo.insert_status_change(session, provider_id=provider_id, from_status=current,
                                    to_status=target, reason=reason, actor=actor,
                                    automatic=automatic)


async def history(session: AsyncSession, principal: Principal,
                  provider_id: uuid.UUID) -> list[dict[str, Any]]:
    provider = await _load(session, provider_id)
    if not is_insider(principal, provider):
        raise Forbidden("This provider is outside your scope.", code="OUT_OF_SCOPE",
                        field="provider_id")
    return await repo.status_history(session, provider_id)


# --- the credit record --------------------------------------------------------------------


async def add_credit_event(session: AsyncSession, principal: Principal, provider_id: uuid.UUID,
                           data: schemas.CreditEventCreate,
                           settings: ProviderSettings) -> dict[str, Any]:
    """Record a warning, violation or sanction with its points.

    When the provider's points reach `credit_suspend_threshold` while it is approved, it is
    suspended in the same transaction, recorded in its history as automatic with the reason.
    The provider row is locked first, so concurrent additions are counted one after another
    and exactly one of them triggers the suspension.
    """
    provider = await _load(session, provider_id, lock=True)
    _ensure_officer_of(principal, provider)
    await repo.insert_credit_event(session, provider_id=provider_id, kind=data.kind.value,
                                   points=data.points, reason=data.reason, actor=principal.sub)
    total = await repo.add_credit_points(session, provider_id, data.points)
    threshold = settings.credit_suspend_threshold
    if (data.points > 0 and total >= threshold
            and provider["status"] == ProviderStatus.approved):
        await _set_status(
            session, provider_id, provider["status"], ProviderStatus.suspended.value,
            f"credit points {total} reached the threshold {threshold} "
            f"({data.kind.value}: {data.reason})", principal.sub, automatic=True)
    return await credit_record(session, principal, provider_id, settings)


async def credit_record(session: AsyncSession, principal: Principal, provider_id: uuid.UUID,
                        settings: ProviderSettings) -> dict[str, Any]:
    provider = await _load(session, provider_id)
    if not is_insider(principal, provider):
        raise Forbidden("This provider is outside your scope.", code="OUT_OF_SCOPE",
                        field="provider_id")
    return {"provider_id": str(provider_id), "status": provider["status"],
            "credit_points": provider["credit_points"],
            "threshold": settings.credit_suspend_threshold,
            "events": await repo.credit_events(session, provider_id)}


# --- reading and the price list -----------------------------------------------------------


async def read(session: AsyncSession, principal: Principal,
               provider_id: uuid.UUID, settings: ProviderSettings | None = None
               ) -> dict[str, Any]:
    """A provider's profile. Anyone signed in sees an approved provider's public profile;
    its own staff, officers and finance of its region, auditors and services see every
    provider, with the contact phone and account number masked."""
    provider = await _load(session, provider_id)
    insider = is_insider(principal, provider)
    if not insider and provider["status"] != ProviderStatus.approved:
        raise ProviderNotFound(field="provider_id")
    services = (await repo.services_of(session, [provider_id])).get(str(provider_id), [])
    out = {k: provider[k] for k in ("name", "kind", "uscc", "region_code", "address", "lat",
                                    "lon", "status", "credit_points", "created_at",
                                    "updated_at")}
    out["id"] = str(provider_id)
    out["services"] = services
    out["contact"] = {"name": provider["contact_name"],
                      "phone_masked": provider["contact_phone_masked"]} if insider else None
    out["bank_account"] = {
        "bank_name": provider["bank_name"], "account_name": provider["bank_account_name"],
        "account_number_masked": provider["bank_account_number_masked"],
    } if insider else None
    if out["bank_account"] is not None and principal.role == Role.service and settings:
        # The ledger's payment files need the whole number; only a service ever sees it.
        out["bank_account"]["account_number"] = cipher(settings).decrypt(
            await repo.bank_account_number_enc(session, provider_id),
            context=str(provider_id).encode())
    return out


async def update_price_list(session: AsyncSession, principal: Principal,
                            provider_id: uuid.UUID,
                            data: schemas.PriceListUpdate) -> list[dict[str, Any]]:
    """Replace the provider's price list (its own admin only). The change reaches the
    directory feed, and so redemption, with a new version."""
    _ensure_admin_of(principal, provider_id)
    provider = await _load(session, provider_id, lock=True)
    if provider["status"] == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    await repo.replace_services(session, provider_id, _service_rows(data.services))
    await repo.touch_provider(session, provider_id, await repo.next_version(session))
    return (await repo.services_of(session, [provider_id]))[str(provider_id)]


# --- terminals ----------------------------------------------------------------------------


async def issue_terminal(session: AsyncSession, principal: Principal, provider_id: uuid.UUID,
                         name: str) -> dict[str, Any]:
    """Issue a terminal credential. The secret is returned once; only its SHA-256 is kept."""
    _ensure_admin_of(principal, provider_id)
    provider = await _load(session, provider_id, lock=True)
    if provider["status"] == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    terminal_id = new_id()
    secret = new_terminal_secret(terminal_id)
    await repo.insert_terminal(session, {
        "id": uuid.UUID(terminal_id), "provider_id": provider_id, "name": name,
        "secret_sha256": hash_terminal_secret(secret),
        "version": await repo.next_version(session), "created_by": principal.sub})
    return {"terminal_id": terminal_id, "name": name, "secret": secret}


async def list_terminals(session: AsyncSession, principal: Principal,
                         provider_id: uuid.UUID) -> list[dict[str, Any]]:
    provider = await _load(session, provider_id)
    allowed = (principal.role in (Role.provider_admin, Role.provider_staff)
               and principal.provider_id == str(provider_id)) or (
        principal.role == Role.civil_affairs and principal.covers_region(
            provider["region_code"]))
    if not allowed:
        raise Forbidden("This provider is outside your scope.", code="OUT_OF_SCOPE",
                        field="provider_id")
    return [{**t, "id": str(t["id"])} for t in await repo.terminals_of(session, provider_id)]


async def revoke_terminal(session: AsyncSession, principal: Principal, provider_id: uuid.UUID,
                          terminal_id: uuid.UUID) -> dict[str, Any]:
    """Revoke a terminal (its provider's admin, or an officer of the provider's region)."""
    provider = await _load(session, provider_id, lock=True)
    if principal.role == Role.civil_affairs:
        principal.ensure_region(provider["region_code"])
    else:
        _ensure_admin_of(principal, provider_id)
    terminal = await repo.get_terminal(session, provider_id, terminal_id)
    if terminal is None:
        raise TerminalNotFound(field="terminal_id")
    if terminal["status"] == "revoked":
        raise TerminalAlreadyRevoked(field="terminal_id")
    await repo.revoke_terminal(session, terminal_id, version=await repo.next_version(session),
                               actor=principal.sub)
    rows = await repo.terminals_of(session, provider_id)
    row = next(r for r in rows if r["id"] == terminal_id)
    return {**row, "id": str(row["id"])}


# --- nearby search ------------------------------------------------------------------------


async def nearby(session: AsyncSession, settings: ProviderSettings, *, lat: float, lon: float,
                 radius_m: int | None, kind: str | None, category: str | None,
                 limit: int | None) -> list[dict[str, Any]]:
    """Approved providers within the radius (default: the 15-minute care circle), nearest
    first, with the distance in whole metres."""
    radius = settings.nearby_default_radius_m if radius_m is None else radius_m
    if not 1 <= radius <= settings.nearby_max_radius_m:
        raise InvalidQuery(f"radius_m must be between 1 and {settings.nearby_max_radius_m}.",
                           field="radius_m")
    count = settings.nearby_max_results if limit is None else limit
    if not 1 <= count <= settings.nearby_max_results:
        raise InvalidQuery(f"limit must be between 1 and {settings.nearby_max_results}.",
                           field="limit")
    rows = await repo.nearby(session, lat=lat, lon=lon, radius_m=radius, kind=kind,
                             category=category, limit=count)
    services = await repo.services_of(session, [r["id"] for r in rows])
    return [{**r, "id": str(r["id"]), "distance_m": int(round(r["distance_m"])),
             "services": services.get(str(r["id"]), [])} for r in rows]


# --- the directory feed -------------------------------------------------------------------


async def directory(session: AsyncSession, since: int) -> dict[str, Any]:
    """Everything changed after version `since` (0: everything), read from one snapshot, with
    the version it is complete up to."""
    if since < 0:
        raise InvalidInput("since must not be negative.", code="INVALID_QUERY", field="since")
    await repo.begin_snapshot(session)
    version = await repo.current_version(session)
    providers = await repo.providers_changed_since(session, since)
    terminals = await repo.terminals_changed_since(session, since)
    services = await repo.services_of(session, [p["id"] for p in providers])
    return {
        "version": version,
        "providers": [{**p, "id": str(p["id"]), "services": services.get(str(p["id"]), [])}
                      for p in providers],
        "terminals": [{**t, "id": str(t["id"]), "provider_id": str(t["provider_id"])}
                      for t in terminals],
    }
