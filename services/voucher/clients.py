"""Calls from the voucher service to the other services (the ledger) and to Stripe.

The ledger client wraps any `httpx.AsyncClient`: in production one with the ledger's base URL,
in tests the in-process client of the real ledger app (set `app.state.ledger_client` before
the voucher app starts, and it is used as is). The Stripe gateway runs the synchronous Stripe
SDK in a thread, against any api base (localstripe in development and tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import stripe

from services.common.clients import ServiceClient
from services.voucher.errors import (
    BudgetExceeded,
    CreditEventPending,
    LedgerRefused,
    LedgerUnavailable,
    NoBudget,
    StripeRefused,
    StripeUnavailable,
)


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    entry_id: str | None
    amount_fen: int
    budget_region_code: str


@dataclass(frozen=True)
class BudgetLine:
    """One program's budget from one funding source over a region subtree (the ledger's
    GET /v1/budget/execution), fen."""

    program_code: str
    funding_source: str
    appropriated_fen: int
    committed_fen: int
    spent_fen: int
    released_fen: int
    available_fen: int


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
            refusal = NoBudget if error["code"] == "NO_BUDGET" else BudgetExceeded
            raise refusal(field="amount_fen", details=error.get("details") or None)
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise LedgerUnavailable()
        # Any other answer is a refusal the ledger recorded under the key: nothing committed.
        raise LedgerRefused(
            f"The ledger refused the commitment ({error.get('code')}).",
            details={"ledger_code": error.get("code")},
        )

    async def _budget_read(self, path: str, params: dict[str, str]) -> Any:
        """A read of the ledger's budget, answered within 10 s at most (a page answers
        without the budget rather than hang); LedgerUnavailable when it cannot say."""
        try:
            resp = await self.http.get(
                path, params=params, headers=self._headers(), timeout=min(self._timeout, 10.0)
            )
        except httpx.HTTPError as exc:
            raise LedgerUnavailable() from exc
        if resp.status_code != 200:
            raise LedgerUnavailable()
        return resp.json()

    async def budget_available(self, program_code: str, region_code: str) -> tuple[str, int] | None:
        """GET /v1/budget: (budget region, available fen) for a program at the nearest
        region at or above `region_code` with a budget; None when there is none (NO_BUDGET).
        LedgerUnavailable when it cannot say within 10 s."""
        data = await self._budget_read(
            "/v1/budget", {"program_code": program_code, "region_code": region_code}
        )
        if not data.get("budget_region_code"):
            return None
        return str(data["budget_region_code"]), int(data["available_fen"])

    async def budget_execution(self, region_code: str) -> list[BudgetLine]:
        """GET /v1/budget/execution for a region subtree; LedgerUnavailable when it cannot say
        (within 10 s at most: a dashboard answers without the budget rather than hang)."""
        data = await self._budget_read("/v1/budget/execution", {"region_code": region_code})
        return [
            BudgetLine(
                str(x["program_code"]),
                str(x["funding_source"]),
                int(x["appropriated_fen"]),
                int(x["committed_fen"]),
                int(x["spent_fen"]),
                int(x["released_fen"]),
                int(x["available_fen"]),
            )
            for x in data["lines"]
        ]


def _error_of(resp: httpx.Response) -> dict[str, Any]:
    try:
        return dict(resp.json().get("error") or {})
    except Exception:
        return {}


# --- Stripe ---------------------------------------------------------------------------------

STRIPE_TIMEOUT_S = 20.0


class StripeGateway:
    """The Stripe calls we make (sync SDK run in a thread), against any api base."""

    def __init__(self, api_key: str, api_base: str) -> None:
        # A call gives up well before a refund's lease (copay_refund.LEASE_S) runs out, so
        # a refund is never being made by two workers at once.
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_S),
        )

    async def create_intent(self, amount_fen: int, redemption_id: str, key: str) -> Any:
        return await self._call(
            self.client.v1.payment_intents.create,
            params={
                "amount": amount_fen,
                "currency": "cny",
                "metadata": {"redemption_id": redemption_id},
                "payment_method_types": ["card"],
            },
            options={"idempotency_key": key},
        )

    async def retrieve_intent(self, pi: str) -> Any:
        return await self._call(self.client.v1.payment_intents.retrieve, pi)

    async def refund(
        self, pi: str, amount_fen: int, key: str, metadata: dict[str, str] | None = None
    ) -> Any:
        params: dict[str, Any] = {"payment_intent": pi, "amount": amount_fen}
        if metadata:
            params["metadata"] = metadata
        return await self._call(
            self.client.v1.refunds.create, params=params, options={"idempotency_key": key}
        )

    async def find_refund(self, pi: str, metadata_key: str, value: str) -> Any:
        """A refund of this PaymentIntent already made under our metadata (a retry after a
        crash or a lost answer must not refund twice, whatever Stripe does with keys)."""
        page = await self._call(
            self.client.v1.refunds.list, params={"payment_intent": pi, "limit": 100}
        )
        for refund in page.data:
            if (refund.to_dict().get("metadata") or {}).get(metadata_key) == value:
                return refund
        return None

    @staticmethod
    async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (stripe.InvalidRequestError, stripe.CardError) as exc:
            raise StripeRefused(details={"stripe_code": exc.code}) from exc
        except stripe.StripeError as exc:
            raise StripeUnavailable() from exc


# --- provider service -----------------------------------------------------------------------


class ProviderCredit:
    """Records a credit event on a provider's record (`POST /v1/providers/{id}/credit-events`
    of the provider service) with the deciding officer's own token, so the provider service
    checks that officer's role and region as for any credit event it records."""

    def __init__(self, http: httpx.AsyncClient, timeout_s: float = 10.0) -> None:
        self.http = http
        self.timeout_s = timeout_s

    async def record(
        self,
        provider_id: str,
        *,
        kind: str,
        points: int,
        reason: str,
        source_ref: str,
        bearer: str,
    ) -> None:
        """Record the event on the provider's credit record, once per `source_ref` however
        often it is sent (a retry after a lost answer, a confirmation finished later)."""
        try:
            resp = await self.http.post(
                f"/v1/providers/{provider_id}/credit-events",
                json={"kind": kind, "points": points, "reason": reason, "source_ref": source_ref},
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise CreditEventPending() from exc
        if resp.status_code != 201:
            raise CreditEventPending(
                details={"provider_id": provider_id, "provider_code": _error_of(resp).get("code")}
            )
