"""`yiyang web ...`: looking after the web's accounts from the command line.

    yiyang web add-admin --username admin --name 自治区账号管理员 --region 450000
        the first administrator of a deployment (or another one); prints a temporary
        password to be changed at the first sign-in, where the two-factor enrolment follows
    yiyang web totp USERNAME
        development only: the current sign-in code of an account whose two-factor secret is
        kept here (the demo's officers, finance, auditors and administrator)

The demo loader (services/demo.py) adds its accounts with `add_accounts`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from web.config import WebSettings, get_settings
from web.repository import users as users_repo
from web.roles import ADMIN, TOTP_ROLES
from web.service import accounts, totp, two_factor
from web.service.accounts import AccountError, Scope
from web.service.context import Identity


@dataclass(frozen=True)
class NewAccount:
    username: str
    role: str
    display_name: str
    region: str
    provider_id: str | None = None
    beneficiary_ids: tuple[str, ...] = ()
    terminal_secret: str | None = None


@dataclass
class Added:
    username: str
    role: str
    created: bool
    totp_secret: str | None = None  # pre-enrolled (the demo's staff), printed for the reader
    extra: dict[str, str] = field(default_factory=dict)


def _identity(settings: WebSettings) -> Identity:
    return Identity(settings, get_common_settings().auth_private_key)


async def _database(url: str | None, settings: WebSettings) -> Database:
    resolved = await resolve_database_url("web", url or settings.database_url, _data_dir())
    return Database(resolved, pool_size=2, application_name="yiyang-web-manage")


def _data_dir():
    return get_common_settings().data_dir


async def add_accounts(
    rows: Sequence[NewAccount],
    password: str,
    *,
    database_url: str | None = None,
    enrol_totp: bool = False,
    created_by: str = "demo",
) -> list[Added]:
    """Add each account that does not exist yet (an existing one is left as it is). With
    `enrol_totp`, accounts whose role signs in with a code get a TOTP secret at once (the
    demo prints it, so a newcomer can try every role); their password is not temporary."""
    settings = get_settings()
    ident = _identity(settings)
    db = await _database(database_url, settings)
    out: list[Added] = []
    try:
        async with db.unit_of_work() as session:
            for row in rows:
                user = await users_repo.by_username(session, row.username)
                created = user is None
                if user is None:
                    user = await accounts.create(
                        session,
                        ident,
                        username=row.username,
                        password=password,
                        role=row.role,
                        display_name=row.display_name,
                        scope=Scope(row.region, row.provider_id, row.beneficiary_ids),
                        terminal_secret=row.terminal_secret,
                        created_by=created_by,
                    )
                secret = two_factor.secret_of(ident, user)
                if enrol_totp and row.role in TOTP_ROLES and secret is None:
                    secret = totp.new_secret()
                    await two_factor.enrol_known(session, ident, user, secret)
                out.append(Added(row.username, row.role, created, secret))
    finally:
        await db.dispose()
    return out


async def current_code(username: str, database_url: str | None = None) -> tuple[str, str, int]:
    """(code now, next code, seconds until it changes) of an enrolled account."""
    settings = get_settings()
    ident = _identity(settings)
    db = await _database(database_url, settings)
    try:
        async with db.unit_of_work(readonly=True) as session:
            user = await users_repo.by_username(session, username.lower())
            secret = two_factor.secret_of(ident, user) if user is not None else None
    finally:
        await db.dispose()
    if secret is None:
        raise AccountError(f"{username}: no such account, or it has no two-factor secret yet")
    now = time.time()
    left = totp.STEP_S - int(now) % totp.STEP_S
    return totp.code_at(secret, now), totp.code_at(secret, now + totp.STEP_S), left


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiyang web", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("add-admin", help="add an account administrator")
    admin.add_argument("--username", required=True)
    admin.add_argument("--name", required=True, help="the name pages show")
    admin.add_argument("--region", required=True, help="the region whose accounts it manages")
    admin.add_argument("--database-url", default=None)
    code = sub.add_parser("totp", help="(development) the current sign-in code of an account")
    code.add_argument("username")
    code.add_argument("--database-url", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "totp":
        if get_common_settings().env not in ("development", "test"):
            print("yiyang web totp: only in development (it reads a secret)", file=sys.stderr)
            return 2
        try:
            now, nxt, left = asyncio.run(current_code(args.username, args.database_url))
        except AccountError as exc:
            print(f"yiyang web totp: {exc}", file=sys.stderr)
            return 1
        print(f"# {args.username}: this code is good for {left} s more, then {nxt}")
        print(now)
        return 0
    from web.routes.users import temporary_password

    temporary = temporary_password()
    try:
        added = asyncio.run(
            _add_admin(args.username, args.name, args.region, temporary, args.database_url)
        )
    except AccountError as exc:
        print(f"yiyang web add-admin: {exc.message}", file=sys.stderr)
        return 1
    if not added.created:
        print(
            f"yiyang web add-admin: {args.username} exists already; nothing changed",
            file=sys.stderr,
        )
        return 1
    print(f"# {args.username}: temporary password (change it at the first sign-in)")
    print(temporary)
    return 0


async def _add_admin(
    username: str, name: str, region: str, password: str, database_url: str | None
) -> Added:
    settings = get_settings()
    ident = _identity(settings)
    db = await _database(database_url, settings)
    try:
        async with db.unit_of_work() as session:
            if await users_repo.by_username(session, username.lower()) is not None:
                return Added(username, ADMIN, False)
            await accounts.create(
                session,
                ident,
                username=username,
                password=password,
                role=ADMIN,
                display_name=name,
                scope=Scope(region),
                must_change_password=True,
                created_by="yiyang web add-admin",
            )
    finally:
        await db.dispose()
    return Added(username, ADMIN, True)
