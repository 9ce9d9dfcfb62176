"""Signing in: the throttle, the password, then (for officers, finance, auditors and
administrators) the second factor, then a session.

Every outcome is in the audit log: a sign-in, a wrong password or code, the start of a wait
the throttle imposes (web/service/throttle.py has the rule). While a wait lasts, attempts of
that account from that place (or from that address at all) are refused without checking the
password, and are not counted again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from web.models import WebUser
from web.repository import sessions as session_repo
from web.repository import throttle as throttle_repo
from web.repository import users as users_repo
from web.service import accounts, audit, sessions, throttle, two_factor
from web.service.context import Identity
from web.sessions import Session


@dataclass(frozen=True)
class Outcome:
    """`ok`: signed in (`cookie`; `second_factor`: a code is asked next); `wrong`: password or
    code not right; `wait`: the throttle holds this attempt for `wait_s` seconds; `restart`:
    too many wrong codes, the password is asked again."""

    kind: Literal["ok", "wrong", "wait", "restart"]
    cookie: str | None = None
    user: WebUser | None = None
    second_factor: bool = False
    wait_s: int = 0


async def _wait_s(db: AsyncSession, keys: dict[str, str], now: datetime) -> int:
    rows = await throttle_repo.counters(db, keys)
    pair = rows.get(throttle.PAIR)
    known = throttle.is_known_address(pair.last_success_at if pair else None, now)
    return throttle.seconds_to_wait({k: r.blocked_until for k, r in rows.items()}, known, now)


async def _failed(
    db: AsyncSession,
    ident: Identity,
    keys: dict[str, str],
    *,
    username: str,
    region: str | None,
    address: str,
) -> None:
    """Count a failure on each counter; note in the log when a wait starts."""
    now = ident.now()
    longest = 0
    for kind, key in keys.items():
        row = await throttle_repo.lock_counter(db, kind, key)
        failures = throttle.failures_now(row.failures, row.last_failure_at, now)
        until = throttle.blocked_until(kind, failures, now)
        await throttle_repo.set_failures(
            db, kind, key, failures=failures, now=now, blocked_until=until
        )
        if until is not None and kind != throttle.ACCOUNT:
            longest = max(longest, int((until - now).total_seconds()))
    if longest:
        await audit.record(
            db,
            ident,
            "sign_in_throttled",
            subject=username,
            region=region,
            address=address,
            wait_s=longest,
        )


async def _succeeded(db: AsyncSession, ident: Identity, keys: dict[str, str]) -> None:
    now = ident.now()
    await throttle_repo.succeeded(db, throttle.PAIR, keys[throttle.PAIR], now)
    await throttle_repo.succeeded(db, throttle.ACCOUNT, keys[throttle.ACCOUNT], now)


async def with_password(
    db: AsyncSession, ident: Identity, username: str, password: str, address: str
) -> Outcome:
    """The first step: username and password."""
    username = username.strip().lower()[:64]
    keys = throttle.keys(username, address)
    wait = await _wait_s(db, keys, ident.now())
    if wait:
        return Outcome("wait", wait_s=wait)
    user = await accounts.authenticate(db, username, password)
    if user is None:
        known = await users_repo.by_username(db, username)
        region = known.region if known is not None else None
        await audit.record(
            db,
            ident,
            "sign_in_failed",
            subject=username,
            region=region,
            address=address,
            reason="disabled" if known is not None and known.status != "active" else None,
        )
        await _failed(db, ident, keys, username=username, region=region, address=address)
        return Outcome("wrong")
    second = sessions.needs_second_factor(ident, user) and user.totp_secret is not None
    cookie = await sessions.start(db, ident, user, address=address, mfa_pending=second)
    if not second:
        await _succeeded(db, ident, keys)
        await audit.record(
            db,
            ident,
            "sign_in",
            actor=user.username,
            subject=user.username,
            region=user.region,
            address=address,
        )
    return Outcome("ok", cookie=cookie, user=user, second_factor=second)


async def with_code(
    db: AsyncSession, ident: Identity, pending: Session, code: str, address: str
) -> Outcome:
    """The second step: a code from the authenticator app, or a recovery code. Success
    replaces the waiting session with a new one (a new cookie)."""
    keys = throttle.keys(pending.username, address)
    wait = await _wait_s(db, keys, ident.now())
    if wait:
        return Outcome("wait", wait_s=wait)
    user = await users_repo.by_id(db, pending.user_id)
    if user is None:
        return Outcome("restart")
    used = await two_factor.check(db, ident, user, code)
    if used is None:
        await audit.record(
            db, ident, "totp_failed", subject=user.username, region=user.region, address=address
        )
        await _failed(db, ident, keys, username=user.username, region=user.region, address=address)
        if await session_repo.count_mfa_failure(db, pending.id) >= sessions.MAX_CODE_FAILURES:
            await session_repo.revoke(db, pending.id, ident.now())
            return Outcome("restart")
        return Outcome("wrong")
    await session_repo.revoke(db, pending.id, ident.now())
    await _succeeded(db, ident, keys)
    cookie = await sessions.start(db, ident, user, address=address, mfa_pending=False)
    if used == "recovery":
        await audit.record(
            db,
            ident,
            "recovery_code_used",
            actor=user.username,
            subject=user.username,
            region=user.region,
            address=address,
            remaining=await users_repo.unused_recovery_codes(db, user.id),
        )
    await audit.record(
        db,
        ident,
        "sign_in",
        actor=user.username,
        subject=user.username,
        region=user.region,
        address=address,
        second_factor=used,
    )
    return Outcome("ok", cookie=cookie, user=user)
