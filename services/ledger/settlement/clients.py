"""Calls from the ledger's settlement to the other services (service credentials).

Each client wraps any `httpx.AsyncClient`: in production one with the service's base URL, in
tests the in-process client of the real app (set `app.state.voucher_client` /
`app.state.provider_client` before the ledger app starts and it is used as is).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import httpx

from services.ledger.clients import LedgerServiceClient
from services.ledger.errors import VoucherUnavailable
from services.ledger.settlement.errors import ProviderUnavailable, StripeUnavailable


class VoucherRedemption(TypedDict):
    """A redemption as the voucher service has it (GET /v1/internal/reconciliation)."""

    id: str
    provider_id: str
    subsidy_fen: int
    copay_fen: int
    status: str
    claim_id: NotRequired[str | None]
    day_on: str
    program_code: str
    budget_region_code: str


class VoucherCopayment(TypedDict):
    id: str
    redemption_id: str
    method: NotRequired[str | None]
    captured_fen: int
    refunded_fen: int
    payment_intent_id: NotRequired[str | None]


class VoucherBalance(TypedDict):
    program_code: str
    budget_region_code: str
    balance_fen: int


class VoucherSide(TypedDict):
    """The voucher side of a period and region's reconciliation, from one snapshot."""

    redemptions: list[VoucherRedemption]
    balances: list[VoucherBalance]
    copayments: NotRequired[list[VoucherCopayment]]


class PayoutAccount(TypedDict):
    """A person's payout account (POST /v1/internal/beneficiaries/payout-accounts); the
    account fields are null when the person has none."""

    beneficiary_id: str
    name: str
    account_name: str | None
    bank_name: str | None
    account_number: str | None


class StripePayment(TypedDict):
    """A succeeded PaymentIntent with what was refunded of its charge."""

    payment_intent_id: str
    charge_id: str | None
    captured_fen: int
    refunded_fen: int


@dataclass(frozen=True, slots=True)
class ClaimAnswer:
    """What the voucher service said to a claim: ok, or which ids it refused and why."""

    ok: bool
    code: str | None = None
    refused: tuple[str, ...] = ()


class VoucherClient(LedgerServiceClient):
    async def claim(self, claim_id: str, redemption_ids: list[str]) -> ClaimAnswer:
        """POST /v1/internal/redemptions/claim: all or nothing. The voucher service is the
        authority on whether a redemption is voided; once it has marked a redemption claimed
        it refuses to void it (trigger redemption_guard)."""
        try:
            resp = await self.http.post(
                "/v1/internal/redemptions/claim",
                headers=self._headers(),
                json={"claim_id": claim_id, "redemption_ids": redemption_ids},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise VoucherUnavailable() from exc
        if resp.status_code == 200:
            return ClaimAnswer(True)
        if resp.status_code >= 500 or resp.status_code in (401, 403, 408, 429):
            raise VoucherUnavailable()
        error: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            error = resp.json().get("error") or {}
        details = error.get("details") or {}
        refused = (
            details.get("voided")
            or details.get("recovered")
            or details.get("disputed")
            or details.get("claimed")
            or details.get("missing")
            or []
        )
        return ClaimAnswer(
            False, error.get("code") or f"HTTP_{resp.status_code}", tuple(str(x) for x in refused)
        )

    async def reconciliation(self, period: str, region_code: str) -> VoucherSide:
        """GET /v1/internal/reconciliation: the voucher side for a period and region."""
        try:
            resp = await self.http.get(
                "/v1/internal/reconciliation",
                headers=self._headers(),
                params={"period": period, "region_code": region_code},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise VoucherUnavailable() from exc
        if resp.status_code != 200:
            raise VoucherUnavailable()
        return cast(VoucherSide, resp.json())

    async def payout_accounts(self, beneficiary_ids: list[str]) -> dict[str, PayoutAccount]:
        """POST /v1/internal/beneficiaries/payout-accounts: each known person's payout
        account (full number: we are a service), keyed by beneficiary id. A person missing
        from the answer is unknown to the voucher service."""
        out: dict[str, PayoutAccount] = {}
        ids = sorted(set(beneficiary_ids))
        for i in range(0, len(ids), 1000):
            try:
                resp = await self.http.post(
                    "/v1/internal/beneficiaries/payout-accounts",
                    headers=self._headers(),
                    json={"beneficiary_ids": ids[i : i + 1000]},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                raise VoucherUnavailable() from exc
            if resp.status_code != 200:
                raise VoucherUnavailable()
            for acct in resp.json().get("accounts") or []:
                out[str(acct["beneficiary_id"])] = acct
        return out


@dataclass(frozen=True, slots=True)
class BankAccount:
    provider_id: str
    payee_name: str
    bank_name: str
    account_number: str


class ProviderClient(LedgerServiceClient):
    async def bank_account(self, provider_id: str) -> BankAccount | None:
        """The provider's settlement account from GET /v1/providers/{id} (a service sees the
        whole account number). None when the provider or its account is unknown."""
        try:
            resp = await self.http.get(
                f"/v1/providers/{provider_id}", headers=self._headers(), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable() from exc
        if resp.status_code in (404, 422):
            return None
        if resp.status_code != 200:
            raise ProviderUnavailable()
        bank = resp.json().get("bank_account") or {}
        if not bank.get("account_number"):
            return None
        return BankAccount(
            provider_id, bank["account_name"], bank["bank_name"], bank["account_number"]
        )


class StripeReader:
    """Reads Stripe's own records (PaymentIntents and refunds) for reconciliation. Stripe
    (and localstripe) list newest first, `limit` <= 100, paged by `starting_after`."""

    def __init__(
        self, http: httpx.AsyncClient, secret_key: str, *, timeout_s: float = 30.0
    ) -> None:
        self.http = http
        self._headers = {"Authorization": f"Bearer {secret_key}"}
        self._timeout = timeout_s

    async def _list(self, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(10_000):
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            try:
                resp = await self.http.get(
                    path, params=params, headers=self._headers, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                raise StripeUnavailable() from exc
            if resp.status_code != 200:
                raise StripeUnavailable()
            page = resp.json()
            data = page.get("data") or []
            out.extend(data)
            if not page.get("has_more") or not data:
                break
            after = data[-1]["id"]
        return out

    async def payments(self) -> dict[str, StripePayment]:
        """Succeeded PaymentIntents carrying a `redemption_id` and every refund, keyed for
        matching: intents by redemption id, refunds summed by charge id."""
        intents = [
            pi
            for pi in await self._list("/v1/payment_intents")
            if pi.get("status") == "succeeded" and (pi.get("metadata") or {}).get("redemption_id")
        ]
        refunds: dict[str, int] = {}
        for rf in await self._list("/v1/refunds"):
            if rf.get("status") in (None, "succeeded", "pending"):
                refunds[str(rf.get("charge"))] = refunds.get(str(rf.get("charge")), 0) + int(
                    rf.get("amount") or 0
                )
        by_redemption: dict[str, StripePayment] = {}
        for pi in intents:
            charge = pi.get("latest_charge")
            charge_id = charge.get("id") if isinstance(charge, dict) else charge
            by_redemption[pi["metadata"]["redemption_id"]] = {
                "payment_intent_id": pi["id"],
                "charge_id": charge_id,
                "captured_fen": int(pi.get("amount_received") or pi.get("amount") or 0),
                "refunded_fen": refunds.get(str(charge_id), 0),
            }
        return by_redemption
