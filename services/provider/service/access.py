"""Who may see and change a provider, and loading it (refusing an unknown one).

A provider's private parts (contact, bank account changes, status history, credit, terminals)
are read by its own people, officers and finance of its region, auditors and services; to
anyone else a read of them answers PROVIDER_NOT_FOUND, exactly what an id no provider has
answers, so no answer tells who applied where. A 403 says only what a role may not do."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import RoleNotAllowed
from services.provider.errors import ProviderNotFound
from services.provider.models import Provider
from services.provider.repository import providers as providers_repo

# The roles that may read a provider's private parts, each within its scope (`is_insider`);
# the routes refuse any other role first (403 ROLE_NOT_ALLOWED, before the record is read).
INSIDER_ROLES = (
    Role.service,
    Role.auditor,
    Role.provider_admin,
    Role.provider_staff,
    Role.terminal,
    Role.civil_affairs,
    Role.finance,
)


def is_insider(principal: Principal, provider: Provider) -> bool:
    """May this caller see the provider's private parts (contact, bank, history, credit)?"""
    if principal.role in (Role.service, Role.auditor):
        return True
    if principal.role in (Role.provider_admin, Role.provider_staff, Role.terminal):
        return principal.provider_id == str(provider.id)
    if principal.role in (Role.civil_affairs, Role.finance):
        return principal.covers_region(provider.region_code)
    return False


def ensure_insider(principal: Principal, provider: Provider) -> None:
    """Reads of the private parts: an insider role outside the provider's scope is told
    there is no such provider (404 PROVIDER_NOT_FOUND, as for an unknown id)."""
    if not is_insider(principal, provider):
        raise ProviderNotFound(field="provider_id")


def ensure_officer_of(principal: Principal, provider: Provider) -> None:
    if principal.role != Role.civil_affairs:
        raise RoleNotAllowed("Only a civil-affairs officer may do this.")
    principal.ensure_region(provider.region_code)


def ensure_admin_of(principal: Principal, provider_id: uuid.UUID) -> None:
    if principal.role != Role.provider_admin:
        raise RoleNotAllowed("Only the provider's admin may do this.")
    principal.ensure_provider(str(provider_id))


async def load_provider(
    session: AsyncSession, provider_id: uuid.UUID, *, lock: bool = False
) -> Provider:
    """The provider as it is now (row-locked with `lock`), or PROVIDER_NOT_FOUND."""
    provider = await providers_repo.get_provider(session, provider_id, lock=lock)
    if provider is None:
        raise ProviderNotFound(field="provider_id")
    return provider
