"""Calls from the ledger to the other services (service credentials).

The ledger's own: which programmes exist (`ProgramDirectory`, asked before budget moves).
Settlement's calls to the voucher and provider services and to Stripe are in
services/ledger/settlement/clients.py, on the same base (`LedgerServiceClient`).

Each client wraps any `httpx.AsyncClient`: in production one with the service's base URL, in
tests the in-process client of the real app (set `app.state.voucher_client` before the
ledger app serves a request and it is used as is; api/deps.py `voucher_http`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import httpx

from services.common.clients import ServiceClient
from services.ledger.errors import VoucherUnavailable


class LedgerServiceClient(ServiceClient):
    """A client that calls another service as the ledger."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        private_key_pem: str,
        *,
        service_name: str = "ledger",
        timeout_s: float = 30.0,
    ) -> None:
        super().__init__(http, private_key_pem, service_name=service_name, timeout_s=timeout_s)


class ProgramDirectory(LedgerServiceClient):
    """Which programmes exist. The voucher service owns them (`GET /v1/programs/{code}`), so
    the ledger asks it rather than trusting a code typed into an appropriation.

    A code found is remembered for the life of the process: programmes are versioned, never
    deleted, so a known code stays known and budget moves ask at most once per code. A code
    not found is asked again next time (it may have been created since). Anything but a
    clear answer (no connection, 5xx, a refused service token, a 404 that is not the
    voucher service's PROGRAM_NOT_FOUND) is VOUCHER_SERVICE_UNAVAILABLE, never "unknown".
    """

    def __init__(self, http: httpx.AsyncClient, private_key_pem: str) -> None:
        super().__init__(http, private_key_pem, timeout_s=10.0)
        self._known: set[str] = set()
        self._sources: dict[str, set[str]] = {}

    async def _get(self, path: str) -> httpx.Response:
        """The voucher service's answer; no answer at all is VOUCHER_SERVICE_UNAVAILABLE."""
        try:
            return await self.http.get(path, headers=self._headers(), timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise VoucherUnavailable(field="program_code") from exc

    async def unfunded(self, code: str, sources: Iterable[str]) -> list[str]:
        """Of `sources`, those from which no version of the programme is funded (a share
        above zero in its `funding_shares`), sorted. A source not found is asked again (a
        new version may add it); a programme's versions are never removed."""
        missing = sorted(set(sources) - self._sources.get(code, set()))
        if not missing:
            return []
        resp = await self._get(f"/v1/programs/{code}/versions")
        if resp.status_code != 200:
            raise VoucherUnavailable(field="program_code")
        try:
            funded = {
                source
                for version in resp.json()
                for source, share in version["config"]["funding_shares"].items()
                if share > 0
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VoucherUnavailable(field="program_code") from exc
        self._sources[code] = funded
        return [s for s in missing if s not in funded]

    async def exists(self, code: str) -> bool:
        if code in self._known:
            return True
        resp = await self._get(f"/v1/programs/{code}")
        if resp.status_code == 200:
            self._known.add(code)
            return True
        if resp.status_code == 404 and _error_code(resp) == "PROGRAM_NOT_FOUND":
            return False
        raise VoucherUnavailable(field="program_code")


def _error_code(resp: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(resp.json()["error"]["code"])
    return None
