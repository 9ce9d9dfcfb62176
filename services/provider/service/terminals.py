"""Terminal credentials: issued once, stored hashed, revoked, and signing in."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import (
    Principal,
    Role,
    hash_terminal_secret,
    new_terminal_secret,
    terminal_id_of,
)
from services.common.errors import Forbidden
from services.common.ids import new_id
from services.provider.errors import ProviderRevoked, TerminalAlreadyRevoked, TerminalNotFound
from services.provider.repository import providers as repo
from services.provider.service.access import ensure_admin_of, load_provider
from services.provider.service.vocabulary import ProviderStatus


async def issue_terminal(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, name: str
) -> dict[str, Any]:
    """Issue a terminal credential. The secret is returned once; only its SHA-256 is kept."""
    ensure_admin_of(principal, provider_id)
    provider = await load_provider(session, provider_id, lock=True)
    if provider["status"] == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    terminal_id = new_id()
    secret = new_terminal_secret(terminal_id)
    await repo.insert_terminal(
        session,
        {
            "id": uuid.UUID(terminal_id),
            "provider_id": provider_id,
            "name": name,
            "secret_sha256": hash_terminal_secret(secret),
            "version": await repo.next_version(session),
            "created_by": principal.sub,
        },
    )
    return {"terminal_id": terminal_id, "name": name, "secret": secret}


async def list_terminals(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[dict[str, Any]]:
    provider = await load_provider(session, provider_id)
    allowed = (
        principal.role in (Role.provider_admin, Role.provider_staff)
        and principal.provider_id == str(provider_id)
    ) or (principal.role == Role.civil_affairs and principal.covers_region(provider["region_code"]))
    if not allowed:
        raise Forbidden(
            "This provider is outside your scope.", code="OUT_OF_SCOPE", field="provider_id"
        )
    return [{**t, "id": str(t["id"])} for t in await repo.terminals_of(session, provider_id)]


async def rename_terminal(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    terminal_id: uuid.UUID,
    name: str,
) -> dict[str, Any]:
    """Rename an active terminal (its provider's admin)."""
    ensure_admin_of(principal, provider_id)
    await load_provider(session, provider_id, lock=True)
    terminal = await repo.get_terminal(session, provider_id, terminal_id)
    if terminal is None:
        raise TerminalNotFound(field="terminal_id")
    if terminal["status"] == "revoked":
        raise TerminalAlreadyRevoked(field="terminal_id")
    await repo.rename_terminal(
        session, terminal_id, name=name, version=await repo.next_version(session)
    )
    return {**terminal, "id": str(terminal_id), "name": name}


async def revoke_terminal(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, terminal_id: uuid.UUID
) -> dict[str, Any]:
    """Revoke a terminal (its provider's admin, or an officer of the provider's region)."""
    provider = await load_provider(session, provider_id, lock=True)
    if principal.role == Role.civil_affairs:
        principal.ensure_region(provider["region_code"])
    else:
        ensure_admin_of(principal, provider_id)
    terminal = await repo.get_terminal(session, provider_id, terminal_id)
    if terminal is None:
        raise TerminalNotFound(field="terminal_id")
    if terminal["status"] == "revoked":
        raise TerminalAlreadyRevoked(field="terminal_id")
    await repo.revoke_terminal(
        session, terminal_id, version=await repo.next_version(session), actor=principal.sub
    )
    rows = await repo.terminals_of(session, provider_id)
    row = next(r for r in rows if r["id"] == terminal_id)
    return {**row, "id": str(row["id"])}


async def terminal_principal(session: AsyncSession, secret: str) -> Principal | None:
    """The terminal a secret belongs to, if the secret is its current one and it is active.

    The hash comparison is constant-time; an unknown id, a revoked terminal and a wrong secret
    are indistinguishable to the caller.
    """
    raw_id = terminal_id_of(secret)
    try:
        terminal_id = uuid.UUID(raw_id) if raw_id else None
    except ValueError:
        terminal_id = None
    if terminal_id is None:
        return None
    row = await repo.terminal_credential(session, terminal_id)
    presented = hash_terminal_secret(secret)
    if row is None or not hmac.compare_digest(presented, row["secret_sha256"]):
        return None
    if row["status"] != "active":
        return None
    return Principal(
        sub=f"terminal:{terminal_id}",
        role=Role.terminal,
        provider_id=str(row["provider_id"]),
        terminal_id=str(terminal_id),
    )
