"""Calls from the voucher service to the others over HTTP (service credentials).

The ledger client wraps any `httpx.AsyncClient`: in production one with the ledger's base URL,
in tests the in-process client of the real ledger app (set `app.state.ledger_client` before
the voucher app starts, and it is used as is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.common.clients import ServiceClient
from services.common.errors import AppError, Conflict
from services.voucher.errors import LedgerRefused, LedgerUnavailable


class BudgetExceeded(Conflict):
    code = "BUDGET_EXCEEDED"
    message = "The budget for this program and region cannot cover the commitment."


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    entry_id: str | None
    amount_fen: int
    budget_region_code: str


class LedgerClient(ServiceClient):
    def __init__(
        self,
        http: httpx.AsyncClient,
        private_key_pem: str,
        *,
        service_name: str = "voucher",
        timeout_s: float = 30.0,
    ) -> None:
        super().__init__(http, private_key_pem, service_name=service_name, timeout_s=timeout_s)

    async def commit(
        self,
        *,
        idempotency_key: str,
        purpose: str,
        program_code: str,
        region_code: str,
        period: str,
        amount_fen: int,
        count: int,
        funding_shares: dict[str, int],
    ) -> Commitment:
        """POST /v1/commitments (docs/architecture.md "Ledger budget"). Asking again with the
        same key and body gives the same answer and commits nothing more."""
        body = {
            "idempotency_key": idempotency_key,
            "purpose": purpose,
            "program_code": program_code,
            "region_code": region_code,
            "period": period,
            "amount_fen": amount_fen,
            "count": count,
            "funding_shares": funding_shares,
        }
        try:
            resp = await self.http.post(
                "/v1/commitments", json=body, headers=self._headers(), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise LedgerUnavailable() from exc
        if resp.status_code in (200, 201):
            data = resp.json()
            return Commitment(
                str(data["commitment_id"]),
                data.get("entry_id"),
                int(data["amount_fen"]),
                str(data["budget_region_code"]),
            )
        error = _error_of(resp)
        if resp.status_code == 409 and error.get("code") in ("BUDGET_EXCEEDED", "NO_BUDGET"):
            # NO_BUDGET: nothing appropriated for the program at or above the region.
            raise BudgetExceeded(
                field="amount_fen", code=error["code"], details=error.get("details") or None
            )
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise LedgerUnavailable()
        # Any other answer is a refusal the ledger recorded under the key: nothing committed.
        raise LedgerRefused(
            f"The ledger refused the commitment ({error.get('code')}).",
            details={"ledger_code": error.get("code")},
        )

    async def budget(self, program_code: str, region_code: str) -> dict[str, Any]:
        try:
            resp = await self.http.get(
                "/v1/budget",
                params={"program_code": program_code, "region_code": region_code},
                headers=self._headers(),
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise LedgerUnavailable() from exc
        if resp.status_code != 200:
            raise AppError(
                "The ledger could not report the budget.", code="LEDGER_REFUSED", status_code=502
            )
        return resp.json()


def _error_of(resp: httpx.Response) -> dict[str, Any]:
    try:
        return dict(resp.json().get("error") or {})
    except Exception:
        return {}
