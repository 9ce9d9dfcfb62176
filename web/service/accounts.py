"""Accounts: who may sign in, with what role and scope; what administrators may change.

An administrator (`admin`, the web's own role) looks after the accounts of a region: creates
them, disables and enables them (disabling ends every session of the account at once),
changes their scope, resets a password (the person must choose a new one at the next
sign-in) or two-factor sign-in. Never their own account, and never one outside their region:
`may_manage`. Everyone changes their own password. Each change is in the audit log.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.regions import is_valid_code_shape, region_covers
from web.models import WebUser
from web.repository import sessions as session_repo
from web.repository import users as repo
from web.roles import ADMIN, PERSON_ROLES, PROVIDER_ROLES, ROLES
from web.service import audit, passwords
from web.service.context import Identity

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
WEB_SUBJECT_PREFIX = "web:"  # the `sub` of the tokens minted for people (sessions.py)


def subject_of(username: str) -> str:
    """The `sub` the services see for this account (what their `*_by` fields record)."""
    return f"{WEB_SUBJECT_PREFIX}{username}"


async def proxy_account(db: AsyncSession, username: str) -> WebUser | None:
    """The active family-member (家属) account of that sign-in name, for an officer granting
    it a proxy authorisation; None for any other account or none."""
    user = await repo.by_username(db, username)
    if user is None or user.role != "proxy" or user.status != "active":
        return None
    return user


class AccountError(Exception):
    """A refusal, in plain Chinese for the page, naming the form field it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Scope:
    """What an account covers: its region (an authority for officers, finance, auditors and
    administrators; otherwise the region it belongs to), and for provider accounts the
    provider, for beneficiary and proxy accounts the people."""

    region: str
    provider_id: str | None = None
    beneficiary_ids: tuple[str, ...] = ()


def check_scope(role: str, scope: Scope) -> None:
    if role not in ROLES:
        raise AccountError("请选择账号的角色。", "role")
    if not is_valid_code_shape(scope.region):
        raise AccountError("请选择地区。", "region")
    if role in PROVIDER_ROLES and not scope.provider_id:
        raise AccountError("服务机构的账号要选择所属机构。", "provider_id")
    if role in PERSON_ROLES and not scope.beneficiary_ids:
        raise AccountError("老年人和家属的账号要填写服务对象。", "beneficiary_ids")


def may_manage(
    admin_role: str, admin_region: str | None, admin_username: str, user: WebUser
) -> bool:
    """An administrator manages the accounts of their region, never their own."""
    return (
        admin_role == ADMIN
        and bool(admin_region)
        and region_covers(admin_region or "", user.region)
        and user.username != admin_username
    )


def _terminal_context(user_id: uuid.UUID) -> bytes:
    return b"web_user.terminal_secret:" + user_id.bytes


async def create(
    db: AsyncSession,
    ident: Identity,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str,
    scope: Scope,
    terminal_secret: str | None = None,
    must_change_password: bool = False,
    created_by: str | None = None,
    address: str | None = None,
) -> WebUser:
    """A new account (refused: a taken or malformed username, a weak password, a scope the
    role needs but lacks)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("用户名用 2 到 64 个小写字母、数字、点、横线或下划线。", "username")
    display_name = display_name.strip()
    if not display_name or len(display_name) > 100:
        raise AccountError("请填写姓名（100 个字以内）。", "display_name")
    check_scope(role, scope)
    problem = passwords.problem(password, username)
    if problem:
        raise AccountError(problem, "password")
    if await repo.by_username(db, username) is not None:
        raise AccountError("这个用户名已经有人用了，请换一个。", "username")
    now = ident.now()
    user_id = uuid.uuid4()
    user = WebUser(
        id=user_id,
        username=username,
        display_name=display_name,
        role=role,
        region=scope.region,
        provider_id=scope.provider_id if role in PROVIDER_ROLES else None,
        beneficiary_ids=list(scope.beneficiary_ids) if role in PERSON_ROLES else [],
        status="active",
        password_hash=await asyncio.to_thread(passwords.hash_password, password),
        must_change_password=must_change_password,
        password_changed_at=now,
        terminal_secret=(
            ident.cipher.encrypt(terminal_secret, context=_terminal_context(user_id))
            if terminal_secret and role == "provider_staff"
            else None
        ),
        created_at=now,
        updated_at=now,
        created_by=created_by,
    )
    try:
        async with db.begin_nested():
            await repo.add(db, user)
    except IntegrityError as exc:  # the same username created at the same moment
        raise AccountError("这个用户名已经有人用了，请换一个。", "username") from exc
    await audit.record(
        db,
        ident,
        "user_created",
        actor=created_by,
        subject=username,
        region=scope.region,
        address=address,
        role=role,
    )
    return user


async def authenticate(db: AsyncSession, username: str, password: str) -> WebUser | None:
    """The active account whose password this is, else None (the same time either way)."""
    user = await repo.by_username(db, username.strip().lower())
    stored = user.password_hash if user is not None else None
    ok = await asyncio.to_thread(passwords.verify_password, stored, password)
    if not ok or user is None or user.status != "active":
        return None
    if passwords.needs_rehash(user.password_hash):
        await repo.replace_hash(
            db, user.id, await asyncio.to_thread(passwords.hash_password, password)
        )
    return user


async def change_own_password(
    db: AsyncSession,
    ident: Identity,
    user_id: uuid.UUID,
    current: str,
    new: str,
    *,
    keep_session: uuid.UUID,
    address: str | None,
) -> None:
    """The person's own change: the current password first; every other session of theirs
    ends (a password someone else knew opens nothing any more)."""
    user = await repo.by_id(db, user_id)
    if user is None:
        raise AccountError("账号不存在。")
    if not await asyncio.to_thread(passwords.verify_password, user.password_hash, current):
        raise AccountError("现在的密码不对。", "current")
    problem = passwords.problem(new, user.username)
    if problem:
        raise AccountError(problem, "new")
    if new == current:
        raise AccountError("新密码不能和现在的一样。", "new")
    now = ident.now()
    await repo.set_password(
        db,
        user.id,
        await asyncio.to_thread(passwords.hash_password, new),
        must_change=False,
        now=now,
    )
    ended = await session_repo.revoke_all(db, user.id, now, keep=keep_session)
    await audit.record(
        db,
        ident,
        "password_changed",
        actor=user.username,
        subject=user.username,
        region=user.region,
        address=address,
        sessions_ended=ended,
    )


async def reset_password(
    db: AsyncSession, ident: Identity, admin: str, user: WebUser, new: str, address: str | None
) -> None:
    """An administrator sets a temporary password: every session of the account ends and the
    person must choose their own at the next sign-in."""
    problem = passwords.problem(new, user.username)
    if problem:
        raise AccountError(problem, "password")
    now = ident.now()
    await repo.set_password(
        db,
        user.id,
        await asyncio.to_thread(passwords.hash_password, new),
        must_change=True,
        now=now,
    )
    ended = await session_repo.revoke_all(db, user.id, now)
    await audit.record(
        db,
        ident,
        "password_reset",
        actor=admin,
        subject=user.username,
        region=user.region,
        address=address,
        sessions_ended=ended,
    )


async def set_status(
    db: AsyncSession, ident: Identity, admin: str, user: WebUser, status: str, address: str | None
) -> None:
    """Disable (every session of the account ends at once) or enable an account."""
    now = ident.now()
    await repo.set_status(db, user.id, status, now)
    ended = await session_repo.revoke_all(db, user.id, now) if status == "disabled" else 0
    await audit.record(
        db,
        ident,
        "user_disabled" if status == "disabled" else "user_enabled",
        actor=admin,
        subject=user.username,
        region=user.region,
        address=address,
        sessions_ended=ended,
    )


async def rescope(
    db: AsyncSession,
    ident: Identity,
    admin: str,
    user: WebUser,
    *,
    display_name: str,
    scope: Scope,
    terminal_secret: str | None,
    address: str | None,
) -> None:
    """Change an account's name and scope (and a staff account's terminal secret). Its
    sessions end, so the next sign-in carries the new scope into the token."""
    display_name = display_name.strip()
    if not display_name or len(display_name) > 100:
        raise AccountError("请填写姓名（100 个字以内）。", "display_name")
    check_scope(user.role, scope)
    changed = [
        label
        for label, old, new in (
            ("姓名", user.display_name, display_name),
            ("地区", user.region, scope.region),
            ("机构", user.provider_id, scope.provider_id if user.role in PROVIDER_ROLES else None),
            (
                "服务对象",
                list(user.beneficiary_ids),
                list(scope.beneficiary_ids) if user.role in PERSON_ROLES else [],
            ),
        )
        if old != new
    ]
    now = ident.now()
    await repo.set_scope(
        db,
        user.id,
        display_name=display_name,
        region=scope.region,
        provider_id=scope.provider_id if user.role in PROVIDER_ROLES else None,
        beneficiary_ids=scope.beneficiary_ids if user.role in PERSON_ROLES else (),
        now=now,
    )
    if terminal_secret and user.role == "provider_staff":
        encrypted = ident.cipher.encrypt(terminal_secret, context=_terminal_context(user.id))
        await repo.set_terminal_secret(db, user.id, encrypted, now)
        changed.append("收银终端")
    ended = await session_repo.revoke_all(db, user.id, now) if changed else 0
    await audit.record(
        db,
        ident,
        "user_rescoped",
        actor=admin,
        subject=user.username,
        region=scope.region,
        address=address,
        changed=changed,
        sessions_ended=ended,
    )


async def terminal_secret(db: AsyncSession, ident: Identity, user_id: uuid.UUID) -> str | None:
    """The terminal secret a provider staff account holds (for the redeem page only)."""
    user = await repo.by_id(db, user_id)
    if user is None or user.terminal_secret is None:
        return None
    return ident.cipher.decrypt(user.terminal_secret, context=_terminal_context(user.id))


def mask_subject(sub: str) -> str:
    """A login id nobody here knows, shown without giving it away whole: its kind and the
    first and last characters of the name (`web:admin1` -> `admin1` -> `a****1`)."""
    name = sub.split(":", 1)[1] if ":" in sub else sub
    if len(name) <= 2:
        return name[:1] + "*"
    return name[0] + "*" * min(len(name) - 2, 6) + name[-1]


async def person_names(db: AsyncSession, subs: Iterable[str | None]) -> dict[str, str]:
    """Who each of the services' `*_by` fields names, as people read it: the account's
    display name when the subject is one of ours (`web:<username>`), else masked."""
    present = [s for s in subs if s]
    ours = [s[len(WEB_SUBJECT_PREFIX) :] for s in present if s.startswith(WEB_SUBJECT_PREFIX)]
    names = await repo.display_names(db, ours)
    out = {}
    for sub in present:
        known = (
            names.get(sub[len(WEB_SUBJECT_PREFIX) :])
            if sub.startswith(WEB_SUBJECT_PREFIX)
            else None
        )
        out[sub] = known or mask_subject(sub)
    return out


async def person_name(db: AsyncSession, sub: str | None) -> str:
    if not sub:
        return ""
    return (await person_names(db, [sub]))[sub]
