"""Terminal credentials: issued once, stored hashed, revoked, and signing in."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import (
    Principal,
    Role,
    hash_terminal_secret,
    new_terminal_secret,
    terminal_id_of,
)
from services.common.crypto import PiiCipher
from services.common.errors import IdempotencyKeyReused
from services.common.ids import new_id
from services.common.request_keys import FIELD, request_hash, scoped_key
from services.provider import schemas
from services.provider.errors import (
    ApplicationRefused,
    ProviderNotFound,
    ProviderRevoked,
    TerminalAlreadyRevoked,
    TerminalNotFound,
    TerminalSecretGone,
)
from services.provider.models import Terminal
from services.provider.repository import directory as directory_repo
from services.provider.repository import terminals as terminals_repo
from services.provider.repository.terminals import NewTerminal
from services.provider.service.access import ensure_admin_of, load_provider
from services.provider.service.vocabulary import ProviderStatus, TerminalStatus


def _read(terminal: Terminal, *, name: str | None = None) -> schemas.TerminalRead:
    return schemas.TerminalRead(
        id=str(terminal.id),
        name=terminal.name if name is None else name,
        status=TerminalStatus(terminal.status),
        created_at=terminal.created_at,
        revoked_at=terminal.revoked_at,
    )


# How long the answer to a terminal issued under an Idempotency-Key can be given again (a
# double press, an answer lost on the way): the secret is kept sealed that long, no longer.
REPEAT_WINDOW = timedelta(minutes=10)


def _secret_context(terminal_id: uuid.UUID) -> bytes:
    return f"terminal-secret:{terminal_id}".encode()


async def issue_terminal(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    name: str,
    *,
    box: PiiCipher,
    idempotency_key: str | None = None,
) -> tuple[schemas.TerminalIssued, bool]:
    """Issue a terminal credential. The secret is answered once; only its SHA-256 is kept.

    Under an `idempotency_key` the same key and name again within REPEAT_WINDOW answer the
    same terminal and secret (True: a repeat), kept sealed by `box` until then; later, 409
    TERMINAL_SECRET_GONE. The provider's row lock orders a double press behind the first."""
    ensure_admin_of(principal, provider_id)
    provider = await load_provider(session, provider_id, lock=True)
    if provider.status == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    if provider.status == ProviderStatus.refused:
        raise ApplicationRefused(field="provider_id")
    await terminals_repo.clear_lapsed_secrets(session, provider_id)
    key = fingerprint = None
    if idempotency_key is not None:
        key = scoped_key(principal.sub, idempotency_key)
        fingerprint = request_hash(box, "terminal", {"name": name})
        earlier = await terminals_repo.by_request_key(session, provider_id, key)
        if earlier is not None:
            return _repeat(earlier, fingerprint, box), True
    terminal_id = new_id()
    secret = new_terminal_secret(terminal_id)
    sealed = until = None
    if key is not None:
        sealed = box.encrypt(secret, context=_secret_context(uuid.UUID(terminal_id)))
        until = datetime.now(UTC) + REPEAT_WINDOW
    await terminals_repo.insert_terminal(
        session,
        NewTerminal(
            id=uuid.UUID(terminal_id),
            provider_id=provider_id,
            name=name,
            secret_sha256=hash_terminal_secret(secret),
            version=await directory_repo.next_version(session),
            created_by=principal.sub,
            request_key=key,
            request_hash=fingerprint,
            secret_sealed=sealed,
            secret_until=until,
        ),
    )
    return schemas.TerminalIssued(terminal_id=terminal_id, name=name, secret=secret), False


def _repeat(earlier: Terminal, fingerprint: bytes, box: PiiCipher) -> schemas.TerminalIssued:
    """The answer to a repeat of the request that issued `earlier`."""
    if earlier.request_hash is None or not hmac.compare_digest(earlier.request_hash, fingerprint):
        raise IdempotencyKeyReused(field=FIELD)
    if earlier.status == TerminalStatus.revoked:
        raise TerminalAlreadyRevoked(field="terminal_id")
    if (
        earlier.secret_sealed is None
        or earlier.secret_until is None
        or earlier.secret_until <= datetime.now(UTC)
    ):
        raise TerminalSecretGone(field=FIELD)
    secret = box.decrypt(earlier.secret_sealed, context=_secret_context(earlier.id))
    return schemas.TerminalIssued(terminal_id=str(earlier.id), name=earlier.name, secret=secret)


async def list_terminals(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[schemas.TerminalRead]:
    provider = await load_provider(session, provider_id)
    allowed = (
        principal.role in (Role.provider_admin, Role.provider_staff)
        and principal.provider_id == str(provider_id)
    ) or (principal.role == Role.civil_affairs and principal.covers_region(provider.region_code))
    if not allowed:
        raise ProviderNotFound(field="provider_id")  # as for an unknown id (service/access.py)
    return [_read(t) for t in await terminals_repo.terminals_of(session, provider_id)]


async def _active_terminal(
    session: AsyncSession, provider_id: uuid.UUID, terminal_id: uuid.UUID
) -> Terminal:
    terminal = await terminals_repo.get_terminal(session, provider_id, terminal_id, lock=True)
    if terminal is None:
        raise TerminalNotFound(field="terminal_id")
    if terminal.status == TerminalStatus.revoked:
        raise TerminalAlreadyRevoked(field="terminal_id")
    return terminal


async def rename_terminal(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    terminal_id: uuid.UUID,
    name: str,
) -> schemas.TerminalRead:
    """Rename an active terminal (its provider's admin)."""
    ensure_admin_of(principal, provider_id)
    await load_provider(session, provider_id, lock=True)
    terminal = await _active_terminal(session, provider_id, terminal_id)
    await terminals_repo.rename_terminal(
        session, terminal_id, name=name, version=await directory_repo.next_version(session)
    )
    return _read(terminal, name=name)


async def revoke_terminal(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, terminal_id: uuid.UUID
) -> schemas.TerminalRead:
    """Revoke a terminal (its provider's admin, or an officer of the provider's region)."""
    provider = await load_provider(session, provider_id, lock=True)
    if principal.role == Role.civil_affairs:
        principal.ensure_region(provider.region_code)
    else:
        ensure_admin_of(principal, provider_id)
    await _active_terminal(session, provider_id, terminal_id)
    await terminals_repo.revoke_terminal(
        session,
        terminal_id,
        version=await directory_repo.next_version(session),
        actor=principal.sub,
    )
    revoked = await terminals_repo.get_terminal(session, provider_id, terminal_id)
    assert revoked is not None  # locked above; terminals are never deleted
    return _read(revoked)


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
    terminal = await terminals_repo.terminal_credential(session, terminal_id)
    presented = hash_terminal_secret(secret)
    if terminal is None or not hmac.compare_digest(presented, terminal.secret_sha256):
        return None
    if terminal.status != TerminalStatus.active:
        return None
    return Principal(
        sub=f"terminal:{terminal_id}",
        role=Role.terminal,
        provider_id=str(terminal.provider_id),
        terminal_id=str(terminal_id),
    )
