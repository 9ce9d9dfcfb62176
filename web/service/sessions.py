"""Sessions in the web's database: started at sign-in, found by the cookie's keyed hash,
ended by sign-out, "sign out everywhere", disabling the account, or time.

A session ends `session_ttl_s` after sign-in (absolute) or `session_idle_s` after its last
request (idle). The last request's time is written at most every `session_touch_s`, so a
page view costs one read, not a write. Every worker process reads the same rows: a person
signed in on one is known to all, and a revocation takes effect on all at the next request.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role, issue_token
from web.models import WebSession, WebUser
from web.repository import sessions as repo
from web.repository import throttle as throttle_repo
from web.repository import users as users_repo
from web.roles import ADMIN, TOTP_ROLES
from web.service import audit
from web.service.accounts import subject_of
from web.service.context import Identity
from web.service.throttle import FORGET_AFTER, KNOWN_ADDRESS_FOR
from web.sessions import Session

# The bearer token a page sends to the services is minted for each request and short-lived.
TOKEN_TTL_S = 600
# A session that waits for the second factor lasts this long.
PENDING_TTL = timedelta(minutes=5)
MAX_CODE_FAILURES = 5  # wrong codes in one pending session, then the password again
MAX_COOKIE_LENGTH = 200
_TOKEN_REGION_ROLES = (Role.civil_affairs.value, Role.finance.value, Role.auditor.value)


def needs_second_factor(ident: Identity, user: WebUser) -> bool:
    return ident.settings.totp_required and user.role in TOTP_ROLES


async def start(
    db: AsyncSession, ident: Identity, user: WebUser, *, address: str | None, mfa_pending: bool
) -> str:
    """A new session of `user`; the cookie's value (only its hash is stored)."""
    cookie = secrets.token_urlsafe(32)
    now = ident.now()
    lifetime = PENDING_TTL if mfa_pending else timedelta(seconds=ident.settings.session_ttl_s)
    await repo.add(
        db,
        WebSession(
            id=uuid.uuid4(),
            token_hash=ident.token_hash(cookie),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            mfa_pending=mfa_pending,
            mfa_failures=0,
            csrf=secrets.token_urlsafe(24),
            acting_for=user.beneficiary_ids[0] if user.beneficiary_ids else None,
            flash=[],
            address=address,
        ),
    )
    return cookie


async def token_for(db: AsyncSession, ident: Identity, user_id: uuid.UUID) -> str | None:
    """A fresh service token for an active account (work it left running in the background,
    an import, calls the services with it part by part); None once the account is disabled."""
    user = await users_repo.by_id(db, user_id)
    if user is None or user.status != "active":
        return None
    return _token(ident, user)


def _token(ident: Identity, user: WebUser) -> str:
    if user.role == ADMIN:
        return ""  # administrators look after accounts here; they call no service as such
    return issue_token(
        ident.auth_private_key,
        role=user.role,
        sub=subject_of(user.username),
        region=user.region if user.role in _TOKEN_REGION_ROLES else None,
        provider_id=user.provider_id,
        beneficiary_ids=tuple(user.beneficiary_ids),
        name=user.display_name,
        ttl_s=TOKEN_TTL_S,
    )


async def load(db: AsyncSession, ident: Identity, cookie: str | None) -> Session | None:
    """The live session of this cookie, or None: unknown, revoked, past its absolute or idle
    timeout, or its account disabled."""
    if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
        return None
    found = await repo.live_by_token(db, ident.token_hash(cookie))
    if found is None:
        return None
    row, user = found
    now = ident.now()
    idle = timedelta(seconds=ident.settings.session_idle_s)
    if user.status != "active" or now >= row.expires_at or now - row.last_seen_at >= idle:
        return None
    if now - row.last_seen_at >= timedelta(seconds=ident.settings.session_touch_s):
        await repo.touch(db, row.id, now)
    return Session(
        id=row.id,
        user_id=user.id,
        username=user.username,
        role=user.role,
        display_name=user.display_name,
        csrf=row.csrf,
        token="" if row.mfa_pending else _token(ident, user),
        region=user.region,
        provider_id=user.provider_id,
        beneficiary_ids=list(user.beneficiary_ids),
        acting_for=row.acting_for,
        flash=[(str(kind), str(text)) for kind, text in row.flash],
        mfa_pending=row.mfa_pending,
        must_change_password=user.must_change_password,
        needs_totp_enrolment=needs_second_factor(ident, user) and user.totp_secret is None,
    )


async def save_state(db: AsyncSession, session: Session) -> None:
    await repo.save_state(
        db,
        session.id,
        flash=[list(item) for item in session.flash],
        acting_for=session.acting_for,
    )


async def end(db: AsyncSession, ident: Identity, session: Session, address: str | None) -> None:
    """Sign out of this browser."""
    await repo.revoke(db, session.id, ident.now())
    await audit.record(
        db,
        ident,
        "sign_out",
        actor=session.username,
        subject=session.username,
        region=session.region,
        address=address,
    )


async def end_everywhere(
    db: AsyncSession, ident: Identity, session: Session, address: str | None
) -> int:
    """Sign out of every browser the person is signed in on, this one included."""
    ended = await repo.revoke_all(db, session.user_id, ident.now())
    await audit.record(
        db,
        ident,
        "sign_out_everywhere",
        actor=session.username,
        subject=session.username,
        region=session.region,
        address=address,
        sessions_ended=ended,
    )
    return ended


async def housekeeping(db: AsyncSession, ident: Identity) -> None:
    """Forget sessions that ended a day ago and throttle counters nobody needs any more."""
    now = ident.now()
    await repo.purge(db, now - timedelta(days=1))
    await throttle_repo.purge(
        db, failures_before=now - FORGET_AFTER, successes_before=now - KNOWN_ADDRESS_FOR
    )
