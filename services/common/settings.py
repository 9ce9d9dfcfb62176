"""Settings shared by every service (env prefix `YIYANG_`).

Each service adds its own class with its own prefix (`YIYANG_VOUCHER_`, ...) for what only it
needs, such as its database URL. Secrets default to the development keys in `dev_keys`, and
the validator refuses those defaults anywhere but `development` and `test`.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import dev_keys

Environment = Literal["development", "test", "production"]


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIYANG_", extra="ignore")

    env: Environment = "development"
    # Where the embedded PostgreSQL and other local state live (git-ignored).
    data_dir: Path = Path(".data")
    # The province this deployment serves (GB/T 2260); region codes must lie under it.
    province_code: str = "450000"
    timezone: str = "Asia/Shanghai"

    auth_private_key: str = dev_keys.DEV_AUTH_PRIVATE_KEY
    auth_public_key: str = dev_keys.DEV_AUTH_PUBLIC_KEY
    access_token_ttl_s: int = 12 * 3600

    # Where the services find each other (the web app and service-to-service calls).
    voucher_url: str = "http://127.0.0.1:8001"
    provider_url: str = "http://127.0.0.1:8002"
    ledger_url: str = "http://127.0.0.1:8003"
    web_url: str = "http://127.0.0.1:8000"

    # "pgbouncer": every database URL of the process names PgBouncer in transaction mode
    # (services/common/db.py; one URL can say so alone with `?pooler=pgbouncer`).
    database_pooler: Literal["none", "pgbouncer"] = "none"

    # Request bodies larger than these are refused with 413 before they are parsed
    # (services.common.limits): JSON bodies, and file uploads (multipart/form-data).
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 12 * 1024 * 1024

    # Freeze what start-up built out of Python's cyclic garbage collector (services.common.app
    # `freeze_start_up_objects`). The tests turn it off: they start hundreds of apps in one
    # process, and each freeze would first walk everything every earlier test left.
    freeze_gc_at_start: bool = True

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> CommonSettings:
        refuse_dev_secrets(self)
        return self


def refuse_dev_secrets(settings: BaseSettings) -> None:
    """Outside development and test, every secret must have been set explicitly."""
    env = getattr(settings, "env", None) or get_common_settings().env
    if env in ("development", "test"):
        return
    leaked = [
        name
        for name, value in settings.__dict__.items()
        if isinstance(value, str) and value in dev_keys.DEV_SECRETS
    ]
    if leaked:
        raise ValueError(
            f"development secrets may not be used in {env}: set {', '.join(sorted(leaked))}"
        )


def public_https_problem(url: str) -> str | None:
    """Why `url` is not an https address of a public host, or None when it is.

    No name is resolved (settings are checked without I/O): an IP literal in any form a
    resolver accepts (`127.1`, `2130706433`, `[::ffff:127.0.0.1]`) must be a global address,
    and `localhost` (or a name under it) is refused by name.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return "it is not a URL"
    if parts.scheme != "https":
        return "it is not https"
    if not host:
        return "it names no host"
    if host == "localhost" or host.endswith(".localhost"):
        return "it is a loopback address"
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the legacy IPv4 forms getaddrinfo also takes
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None  # a name: public as far as settings can tell
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "it is a loopback address"
    if not address.is_global or address.is_multicast:
        return "it is a private or reserved address"
    return None


def refuse_local_addresses(settings: BaseSettings, *names: str) -> None:
    """Outside development and test, each named URL setting (when set) must be an https
    address of a public host: money and card data never go to a loopback or private address
    by a mistaken or planted setting."""
    env = getattr(settings, "env", None) or get_common_settings().env
    if env in ("development", "test"):
        return
    prefix = str(settings.model_config.get("env_prefix") or "")
    for name in names:
        value = getattr(settings, name)
        why = public_https_problem(value) if value is not None else None
        if why:
            raise ValueError(
                f"{name} must be an https address of a public host in {env} ({why}): "
                f"set {prefix}{name.upper()}"
            )


@lru_cache
def get_common_settings() -> CommonSettings:
    return CommonSettings()
