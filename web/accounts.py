"""The people who sign in to this deployment: a small JSON account store.

The web app is the identity provider: it checks a password against the store and mints the
person's JWT (`services.common.auth.issue_token`) with their role and scope. The demo loader
calls `add_account`. Passwords are kept as scrypt hashes; a provider staff account may hold
the secret of its terminal, which the redeem page uses and never shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.common.auth import PEOPLE_ROLES, Role
from services.common.files import write_private

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_lock = threading.Lock()


class AccountError(ValueError):
    pass


@dataclass
class Account:
    username: str
    password_hash: str
    role: str
    display_name: str
    region: str | None = None
    provider_id: str | None = None
    beneficiary_ids: list[str] = field(default_factory=list)
    terminal_secret: str | None = None

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("password_hash")
        data.pop("terminal_secret")
        return data


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, want = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        got = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=int(n),
            r=_SCRYPT["r"],
            p=_SCRYPT["p"],
            dklen=len(want),
            maxmem=64 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# Checked against the real password hash of nobody, so an unknown username costs the same
# time as a wrong password and does not reveal which usernames exist.
_DUMMY_HASH = hash_password("not-a-password", salt=b"yiyang-dummy-salt")


class AccountStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return data.get("accounts", {})

    def _write(self, accounts: dict[str, dict[str, Any]]) -> None:
        write_private(self.path, json.dumps({"accounts": accounts}, ensure_ascii=False, indent=1))

    def get(self, username: str) -> Account | None:
        raw = self._read().get(username)
        return Account(**raw) if raw else None

    def all(self) -> list[Account]:
        return [Account(**raw) for raw in self._read().values()]

    def authenticate(self, username: str, password: str) -> Account | None:
        account = self.get(username.strip())
        if account is None:
            check_password(password, _DUMMY_HASH)
            return None
        return account if check_password(password, account.password_hash) else None

    def add(
        self,
        *,
        username: str,
        password: str,
        role: Role | str,
        display_name: str,
        region: str | None = None,
        provider_id: str | None = None,
        beneficiary_ids: list[str] | tuple[str, ...] = (),
        terminal_secret: str | None = None,
    ) -> Account:
        """Create or replace an account. Refuses a role that is not a person's."""
        username = username.strip()
        if not username or len(username) > 64:
            raise AccountError("username must be 1-64 characters")
        if len(password) < 8:
            raise AccountError("password must have at least 8 characters")
        role = Role(role)
        if role not in PEOPLE_ROLES:
            raise AccountError(f"role {role.value} is not a person's role")
        if role in (Role.provider_staff, Role.provider_admin) and not provider_id:
            raise AccountError("provider roles need a provider_id")
        if role in (Role.civil_affairs, Role.finance, Role.auditor) and not region:
            raise AccountError("officer, finance and auditor accounts need a region")
        if role in (Role.beneficiary, Role.proxy) and not beneficiary_ids:
            raise AccountError("beneficiary and proxy accounts need beneficiary_ids")
        account = Account(
            username=username,
            password_hash=hash_password(password),
            role=role.value,
            display_name=display_name,
            region=region,
            provider_id=provider_id,
            beneficiary_ids=list(beneficiary_ids),
            terminal_secret=terminal_secret,
        )
        with _lock:
            accounts = self._read()
            accounts[username] = asdict(account)
            self._write(accounts)
        return account


WEB_SUBJECT_PREFIX = "web:"  # the `sub` of tokens minted at sign-in (routes/auth.py)


def mask_subject(sub: str) -> str:
    """A login id nobody here knows, shown without giving it away whole: its kind and the
    first and last characters of the name (`web:admin1` -> `admin1` -> `a****1`)."""
    name = sub.split(":", 1)[1] if ":" in sub else sub
    if len(name) <= 2:
        return name[:1] + "*"
    return name[0] + "*" * min(len(name) - 2, 6) + name[-1]


def person_name(store: AccountStore, sub: str | None) -> str:
    """Who a service's `*_by` field names, as people read it: the account's display name
    when the subject is one of ours, else the subject masked."""
    if not sub:
        return ""
    if sub.startswith(WEB_SUBJECT_PREFIX):
        account = store.get(sub[len(WEB_SUBJECT_PREFIX) :])
        if account is not None and account.display_name:
            return account.display_name
    return mask_subject(sub)


def add_account(path: Path | None = None, **fields: Any) -> Account:
    """For the demo loader: add a person who may sign in to the web app.

    `add_account(username=, password=, role=, display_name=, region=, provider_id=,
    beneficiary_ids=, terminal_secret=)`; `path` defaults to the configured account store.
    """
    if path is None:
        from web.config import get_settings

        path = get_settings().accounts_path
    return AccountStore(path).add(**fields)
