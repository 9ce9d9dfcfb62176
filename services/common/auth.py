"""Authentication and authorisation shared by every service.

People and services carry a signed bearer token (EdDSA / Ed25519 JWT) naming their role and
scope: a region (covering its sub-regions), a provider, or the beneficiaries they may act for.
Provider terminals carry instead the secret issued when the terminal was created; a service
that accepts terminals installs a resolver that turns the secret into a `Principal`.

Routes declare who may call them with `require(Role.X, ...)`; scope is then checked against
the resource with `principal.ensure_region(...)`, `ensure_provider(...)`, `ensure_beneficiary(...)`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from services.common.errors import (
    InvalidTerminal,
    InvalidToken,
    OutOfScope,
    RoleNotAllowed,
    TokenExpired,
    Unauthenticated,
)
from services.common.keys import load_private_key, load_public_key
from services.common.regions import region_covers


class Role(StrEnum):
    beneficiary = "beneficiary"
    proxy = "proxy"
    provider_staff = "provider_staff"
    provider_admin = "provider_admin"
    civil_affairs = "civil_affairs"
    finance = "finance"
    auditor = "auditor"
    # Not people: another Yiyang service, and a provider's terminal.
    service = "service"
    terminal = "terminal"


PEOPLE_ROLES = tuple(r for r in Role if r not in (Role.service, Role.terminal))
TOKEN_ISSUER = "yiyang"


@dataclass(frozen=True)
class Principal:
    """Who is calling, and over what they have authority."""

    sub: str
    role: Role
    region: str | None = None
    provider_id: str | None = None
    beneficiary_ids: tuple[str, ...] = ()
    terminal_id: str | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def covers_region(self, code: str | None) -> bool:
        if self.role == Role.service:
            return True
        return bool(self.region and code and region_covers(self.region, code))

    def ensure_region(self, code: str | None) -> None:
        if not self.covers_region(code):
            raise OutOfScope("This region is outside your scope.", field="region_code")

    def ensure_provider(self, provider_id: str) -> None:
        if self.role == Role.service:
            return
        if self.provider_id != provider_id:
            raise OutOfScope("This provider is outside your scope.", field="provider_id")

    def may_act_for(self, beneficiary_id: str) -> bool:
        if self.role == Role.beneficiary:
            return self.sub == beneficiary_id or beneficiary_id in self.beneficiary_ids
        if self.role == Role.proxy:
            return beneficiary_id in self.beneficiary_ids
        return False

    def ensure_beneficiary(self, beneficiary_id: str) -> None:
        if not self.may_act_for(beneficiary_id):
            raise OutOfScope("You may not act for this person.", field="beneficiary_id")


# --- tokens -------------------------------------------------------------------------------


def issue_token(
    private_key_pem: str,
    *,
    role: Role | str,
    sub: str | None = None,
    region: str | None = None,
    provider_id: str | None = None,
    beneficiary_ids: tuple[str, ...] | list[str] = (),
    name: str | None = None,
    ttl_s: int = 12 * 3600,
    now: float | None = None,
) -> str:
    role = Role(role)
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "sub": sub or f"{role.value}:{uuid.uuid4()}",
        "role": role.value,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": secrets.token_hex(8),
    }
    if region:
        claims["region"] = region
    if provider_id:
        claims["provider_id"] = provider_id
    if beneficiary_ids:
        claims["beneficiary_ids"] = list(beneficiary_ids)
    if name:
        claims["name"] = name
    return jwt.encode(claims, load_private_key(private_key_pem), algorithm="EdDSA")


def verify_token(public_key_pem: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            load_public_key(public_key_pem),
            algorithms=["EdDSA"],
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        role = Role(claims["role"])
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("The token has expired.") from exc
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise InvalidToken("The token is not valid.") from exc
    if role == Role.terminal:
        raise InvalidToken("Terminals authenticate with their secret.")
    return Principal(
        sub=claims["sub"],
        role=role,
        region=claims.get("region"),
        provider_id=claims.get("provider_id"),
        beneficiary_ids=tuple(claims.get("beneficiary_ids") or ()),
        name=claims.get("name"),
    )


# --- terminal secrets ---------------------------------------------------------------------

TERMINAL_SECRET_PREFIX = "yyt_"


def new_terminal_secret(terminal_id: str) -> str:
    """A terminal's secret: its id (so the owner can be found) and 32 random bytes."""
    return f"{TERMINAL_SECRET_PREFIX}{terminal_id}.{secrets.token_urlsafe(32)}"


def is_terminal_secret(credential: str) -> bool:
    return credential.startswith(TERMINAL_SECRET_PREFIX)


def hash_terminal_secret(secret: str) -> str:
    """SHA-256 is enough: the secret has 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


def terminal_id_of(secret: str) -> str | None:
    if not is_terminal_secret(secret):
        return None
    body = secret[len(TERMINAL_SECRET_PREFIX) :]
    terminal_id, sep, _ = body.partition(".")
    return terminal_id if sep and terminal_id else None


TerminalResolver = Callable[[str], Awaitable[Principal | None]]


# --- FastAPI dependencies ----------------------------------------------------------------


def bearer_credential(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated()
    return credential.strip()


async def authenticate(request: Request) -> Principal:
    """The caller, from a JWT or (where the app installed a resolver) a terminal secret."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    credential = bearer_credential(request)
    if is_terminal_secret(credential):
        resolver: TerminalResolver | None = getattr(request.app.state, "terminal_resolver", None)
        principal = await resolver(credential) if resolver else None
        if principal is None:
            raise InvalidTerminal("Unknown or revoked terminal.")
    else:
        principal = verify_token(request.app.state.auth_public_key, credential)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role) -> Any:
    """A dependency that lets only the given roles through and returns the Principal."""
    allowed = frozenset(roles)

    async def _dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise RoleNotAllowed(f"Role '{principal.role.value}' may not do this.")
        return principal

    _dependency.__name__ = "require_" + "_or_".join(sorted(r.value for r in allowed))
    return Depends(_dependency)


def service_token(private_key_pem: str, service_name: str, ttl_s: int = 3600) -> str:
    return issue_token(
        private_key_pem, role=Role.service, sub=f"service:{service_name}", ttl_s=ttl_s
    )
