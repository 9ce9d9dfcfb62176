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
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.auth import Principal, Role, hash_terminal_secret, is_terminal_secret

log = logging.getLogger("yiyang.voucher.directory")


@dataclass(frozen=True)
class ServiceItem:
    code: str
    category: str
    price_fen: int | None = None


@dataclass(frozen=True)
class ProviderEntry:
    id: str
    kind: str
    status: str
    region_code: str | None
    services: dict[str, ServiceItem] = field(default_factory=dict)

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(frozen=True)
class TerminalEntry:
    id: str
    provider_id: str
    status: str


class ProviderDirectory:
    """Maps of providers and terminals (by the SHA-256 of their secret), and the version seen."""

    def __init__(self) -> None:
        self.version = 0
        self.providers: dict[str, ProviderEntry] = {}
        self.terminals_by_hash: dict[str, TerminalEntry] = {}
        self._hash_of_terminal: dict[str, str] = {}
        self.loaded = asyncio.Event()
        self.last_error: str | None = None

    def apply(self, changes: dict[str, Any]) -> None:
        """Fold one answer of the directory endpoint into the maps (later versions win)."""
        for p in changes.get("providers") or ():
            services = {
                s["code"]: ServiceItem(s["code"], s.get("category") or "", s.get("price_fen"))
                for s in p.get("services") or ()
            }
            self.providers[str(p["id"])] = ProviderEntry(
                str(p["id"]),
                p.get("kind") or "",
                p.get("status") or "",
                p.get("region_code"),
                services,
            )
        for t in changes.get("terminals") or ():
            tid = str(t["id"])
            old_hash = self._hash_of_terminal.pop(tid, None)
            if old_hash:
                self.terminals_by_hash.pop(old_hash, None)
            digest = t.get("secret_sha256")
            if digest:
                self.terminals_by_hash[digest] = TerminalEntry(
                    tid, str(t["provider_id"]), t.get("status") or ""
                )
                self._hash_of_terminal[tid] = digest
        version = changes.get("version")
        if isinstance(version, int) and version > self.version:
            self.version = version
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

    async def run(self, client: httpx.AsyncClient, token_source: Any, interval_s: float) -> None:
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
