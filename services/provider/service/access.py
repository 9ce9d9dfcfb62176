"""Who may see and change a provider, and what every rule shares."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.crypto import PiiCipher
from services.common.errors import Forbidden
from services.provider.config import ProviderSettings
from services.provider.errors import ProviderNotFound
from services.provider.repository import providers as repo


@lru_cache(maxsize=4)
def _cipher(encryption_key: str, hash_key: str) -> PiiCipher:
    return PiiCipher(encryption_key, hash_key)


def cipher(settings: ProviderSettings) -> PiiCipher:
    return _cipher(settings.pii_encryption_key, settings.pii_hash_key)


def mask_account_number(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def is_insider(principal: Principal, provider: dict[str, Any]) -> bool:
    """May this caller see the provider's private parts (contact, bank, history, credit)?"""
    if principal.role in (Role.service, Role.auditor):
        return True
    if principal.role in (Role.provider_admin, Role.provider_staff, Role.terminal):
        return principal.provider_id == str(provider["id"])
    if principal.role in (Role.civil_affairs, Role.finance):
        return principal.covers_region(provider["region_code"])
    return False


async def load_provider(
    session: AsyncSession, provider_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any]:
    row = await repo.get_provider(session, provider_id, lock=lock)
    if row is None:
        raise ProviderNotFound(field="provider_id")
    return row


def ensure_officer_of(principal: Principal, provider: dict[str, Any]) -> None:
    if principal.role != Role.civil_affairs:
        raise Forbidden("Only a civil-affairs officer may do this.", code="ROLE_NOT_ALLOWED")
    principal.ensure_region(provider["region_code"])


def ensure_admin_of(principal: Principal, provider_id: uuid.UUID) -> None:
    if principal.role != Role.provider_admin:
        raise Forbidden("Only the provider's admin may do this.", code="ROLE_NOT_ALLOWED")
    principal.ensure_provider(str(provider_id))
