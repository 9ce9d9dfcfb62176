"""The provider directory, held in memory and polled from the provider service.

Every redemption needs to know, without a network call, whether the terminal is live, whose it
is, whether that provider is approved, its kind and its price list. The provider service
publishes changes at `GET /v1/internal/directory?since=<version>` (docs/architecture.md,
"Provider directory"); a background task asks for them every second and applies them here.

The transport is injectable: tests hand in `httpx.ASGITransport(app=provider_app)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from services.common.auth import Principal, Role, hash_terminal_secret, is_terminal_secret

log = logging.getLogger("yiyang.voucher.directory")


@dataclass(frozen=True)
class ServiceItem:
    """A line of the provider's price list as the feed delivered it (see the provider
    service's `ServiceItemCreate`): what the voucher service prices a bill from."""

    code: str
    category: str
    price_fen: int | None = None
    name: str = ""
    unit: str = ""
    max_per_visit: int = 1
    variable_price: bool = False
    max_price_fen: int | None = None
    home_visit: bool = False
    min_minutes: int | None = None


@dataclass(frozen=True)
class ProviderEntry:
    id: str
    kind: str
    status: str
    region_code: str | None
    services: dict[str, ServiceItem] = field(default_factory=dict)
    price_list_version: int = 0
    name: str = ""
    lat: float | None = None
    lon: float | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(frozen=True)
class TerminalEntry:
    id: str
    provider_id: str
    status: str
    name: str = ""


class _Feed(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FeedService(_Feed):
    code: str
    category: str | None = None
    price_fen: int | None = None
    name: str | None = None
    unit: str | None = None
    max_per_visit: int = 1
    variable_price: bool = False
    max_price_fen: int | None = None
    home_visit: bool = False
    min_minutes: int | None = None


class FeedProvider(_Feed):
    id: str
    kind: str | None = None
    status: str | None = None
    region_code: str | None = None
    services: list[FeedService] | None = None
    price_list_version: int = 0
    name: str | None = None
    lat: float | None = None
    lon: float | None = None


class FeedTerminal(_Feed):
    id: str
    provider_id: str
    name: str | None = None
    status: str | None = None
    secret_sha256: str | None = None


class DirectoryChanges(_Feed):
    """One answer of the provider service's `GET /v1/internal/directory?since=`: what
    changed since that version (whole provider and terminal records)."""

    version: int | None = None
    providers: list[FeedProvider] | None = None
    terminals: list[FeedTerminal] | None = None


class ProviderDirectory:
    """Maps of providers and terminals (by the SHA-256 of their secret), and the version seen."""

    def __init__(self) -> None:
        self.version = 0
        self.providers: dict[str, ProviderEntry] = {}
        self.terminals_by_hash: dict[str, TerminalEntry] = {}
        self._hash_of_terminal: dict[str, str] = {}
        # Every terminal by id, revoked ones too (a receipt names the terminal it was made on).
        self.terminals_by_id: dict[str, TerminalEntry] = {}
        self.loaded = asyncio.Event()
        self.last_error: str | None = None

    def apply(self, answer: Mapping[str, Any]) -> None:
        """Fold one answer of the directory endpoint (its JSON) into the maps (later
        versions win)."""
        changes = DirectoryChanges.model_validate(answer)
        for p in changes.providers or ():
            services = {
                s.code: ServiceItem(
                    s.code,
                    s.category or "",
                    s.price_fen,
                    s.name or "",
                    s.unit or "",
                    s.max_per_visit,
                    s.variable_price,
                    s.max_price_fen,
                    s.home_visit,
                    s.min_minutes,
                )
                for s in p.services or ()
            }
            self.providers[p.id] = ProviderEntry(
                p.id,
                p.kind or "",
                p.status or "",
                p.region_code,
                services,
                p.price_list_version,
                p.name or "",
                p.lat,
                p.lon,
            )
        for t in changes.terminals or ():
            old_hash = self._hash_of_terminal.pop(t.id, None)
            if old_hash:
                self.terminals_by_hash.pop(old_hash, None)
            entry = TerminalEntry(t.id, t.provider_id, t.status or "", t.name or "")
            self.terminals_by_id[t.id] = entry
            if t.secret_sha256:
                self.terminals_by_hash[t.secret_sha256] = entry
                self._hash_of_terminal[t.id] = t.secret_sha256
        if changes.version is not None and changes.version > self.version:
            self.version = changes.version
        self.loaded.set()

    def provider(self, provider_id: str | None) -> ProviderEntry | None:
        return self.providers.get(provider_id) if provider_id else None

    async def resolve_terminal(self, secret: str) -> Principal | None:
        """The terminal's Principal for a live terminal's secret, else None (-> 401)."""
        if not is_terminal_secret(secret):
            return None
        entry = self.terminals_by_hash.get(hash_terminal_secret(secret))
        if entry is None or entry.status != "active":
            return None
        return Principal(
            sub=f"terminal:{entry.id}",
            role=Role.terminal,
            provider_id=entry.provider_id,
            terminal_id=entry.id,
        )

    async def poll_once(self, client: httpx.AsyncClient, token: str) -> bool:
        """Ask for the changes since the version seen; True when an answer was applied."""
        response = await client.get(
            "/v1/internal/directory",
            params={"since": self.version},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        self.apply(response.json())
        return True

    async def run(
        self, client: httpx.AsyncClient, token_source: Callable[[], str], interval_s: float
    ) -> None:
        """Poll for ever (a background task); failures are logged and retried next tick."""
        failures = 0
        while True:
            try:
                await self.poll_once(client, token_source())
                if failures:
                    log.info("directory reachable again at version %s", self.version)
                failures = 0
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.last_error = type(exc).__name__
                if failures in (1, 10) or failures % 60 == 0:
                    log.warning(
                        "directory poll failed (%s), %d in a row", type(exc).__name__, failures
                    )
            await asyncio.sleep(interval_s)
