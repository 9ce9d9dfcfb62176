"""One small HTTP client per service, carrying the signed-in person's bearer token.

Pages call these and never build URLs themselves. A refusal from a service becomes an
`ApiError` with a friendly Chinese message (by the stable error code; otherwise the
service's own message; the table is web/messages.py). Transports are injectable so tests run the services in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from services.common.ids import is_uuid
from web.messages import BY_FIELD, BY_STATUS, FRIENDLY, with_figures


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    field: str | None = None
    details: Any = None

    @property
    def friendly(self) -> str:
        """The refusal in plain Chinese: ours with the service's figures, or ours for the code
        (web/messages.py), else the service's message when it is Chinese, else a plain
        sentence for its kind -- never the service's English."""
        figured = with_figures(self.code, self.details)
        if figured is not None:
            return figured
        if (self.code, self.field or "") in BY_FIELD:
            return BY_FIELD[(self.code, self.field or "")]
        if self.code in FRIENDLY:
            return FRIENDLY[self.code]
        if any("\u4e00" <= ch <= "\u9fff" for ch in self.message or ""):
            return self.message
        return BY_STATUS.get(self.status, "系统暂时无法完成这项操作，请稍后再试。")

    @property
    def page_status(self) -> int:
        """The page's own status: the service's refusal (4xx) as is; its failure as 502."""
        return self.status if self.status < 500 else 502

    def __str__(self) -> str:
        return f"{self.status} {self.code}"


def make_http(
    base_url: str, transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0
) -> httpx.AsyncClient:
    """The connection pool to one service, shared by every request of the web app."""
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s)


class ServiceClient:
    """Calls one service as one person: their bearer token on each request, over either a
    shared pool (`http`, the app's) or a client of its own (`base_url` + `transport`)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owned = http is None
        self._client = http or make_http(base_url, transport, timeout_s)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self._headers}
        try:
            try:
                resp = await self._client.request(method, path, headers=headers, **kwargs)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                # A read that could not reach the service, or whose connection was dropped
                # before an answer (a service restarting, a pod replaced): asked once more.
                # A write is never repeated here: its form's key makes the person's retry safe.
                if method != "GET":
                    raise
                await asyncio.sleep(RETRY_PAUSE_S)
                resp = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(503, "SERVICE_UNAVAILABLE", "service unreachable") from exc
        if resp.status_code >= 400:
            raise _error_of(resp)
        return resp

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()


RETRY_PAUSE_S = 0.2


def _error_of(resp: httpx.Response) -> ApiError:
    try:
        err = resp.json().get("error") or {}
    except ValueError:
        err = {}
    code = err.get("code") or ("INTERNAL_ERROR" if resp.status_code >= 500 else "HTTP_ERROR")
    return ApiError(
        resp.status_code,
        code,
        err.get("message") or resp.reason_phrase,
        err.get("field"),
        err.get("details"),
    )


def _rows(data: Any, key: str) -> list[dict[str, Any]]:
    """A list answer, whether bare or wrapped (`{"items": [...]}` or `{key: [...]}`)."""
    if isinstance(data, list):
        return data
    return data.get("items", data.get(key, []))


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v not in (None, "")}


class VoucherClient(ServiceClient):
    async def vouchers(self, beneficiary_id: str) -> list[dict[str, Any]]:
        data = await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/vouchers")
        return _rows(data, "vouchers")

    async def beneficiary(self, beneficiary_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}")

    async def lookup(self, national_id: str) -> dict[str, Any]:
        """A person by national ID (in the body, never in a URL); answered masked."""
        return await self.json(
            "POST", "/v1/beneficiaries/lookup", json={"national_id": national_id}
        )

    async def new_code(self, beneficiary_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/beneficiaries/{beneficiary_id}/codes")

    async def code_svg(self, token: str) -> bytes:
        return (await self.request("GET", f"/v1/codes/{token}.svg")).content

    async def redemptions(self, beneficiary_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The person's redemptions, newest first."""
        data = await self.json(
            "GET", f"/v1/beneficiaries/{beneficiary_id}/redemptions", params={"limit": limit}
        )
        return _rows(data, "redemptions")

    async def provider_day(self, provider_id: str, day: str) -> list[dict[str, Any]]:
        data = await self.json(
            "GET", "/v1/redemptions", params={"provider_id": provider_id, "date": day}
        )
        return _rows(data, "redemptions")

    async def void(self, redemption_id: str, reason: str) -> dict[str, Any]:
        return await self.json(
            "POST", f"/v1/redemptions/{redemption_id}/void", json={"reason": reason}
        )

    # receipts, confirmations and disputes (docs/voucher-redemption.md)
    async def receipt(self, redemption_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/redemptions/{redemption_id}/receipt")

    async def confirm(self, redemption_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/redemptions/{redemption_id}/confirm", json={})

    async def dispute(self, redemption_id: str, reason: str) -> dict[str, Any]:
        return await self.json(
            "POST", f"/v1/redemptions/{redemption_id}/dispute", json={"reason": reason}
        )

    async def disputes(self, status: str = "pending") -> list[dict[str, Any]]:
        return _rows(await self.json("GET", "/v1/disputes", params={"status": status}), "items")

    async def dispute_detail(self, dispute_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/disputes/{dispute_id}")

    async def decide(self, dispute_id: str, decision: str, reason: str) -> dict[str, Any]:
        return await self.json(
            "POST",
            f"/v1/disputes/{dispute_id}/decision",
            json={"decision": decision, "reason": reason},
        )

    async def appeal(self, dispute_id: str, reason: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/disputes/{dispute_id}/appeal", json={"reason": reason})

    # --- co-payments (services/voucher/api/copay.py) ---
    async def start_copayment(self, redemption_id: str, method: str) -> dict[str, Any]:
        return await self.json(
            "POST", f"/v1/redemptions/{redemption_id}/copayment", json={"method": method}
        )

    async def copayments_due(self, beneficiary_id: str) -> list[dict[str, Any]]:
        return _rows(
            await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/copayments"), "copayments"
        )

    async def copayment(self, copayment_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/copayments/{copayment_id}")

    async def copayment_client_secret(self, copayment_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/copayments/{copayment_id}/client-secret")

    async def sync_copayment(self, copayment_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/copayments/{copayment_id}/sync")

    async def enrol(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/v1/beneficiaries", json=body)

    # --- the lifecycle and the roster (docs/lifecycle.md) ---
    async def roster(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self.json("GET", "/v1/beneficiaries", params=params)

    async def roster_file(self, params: dict[str, Any]) -> bytes:
        return (await self.request("GET", "/v1/beneficiaries", params=params)).content

    # --- profile and reassessment (web/routes/officer_reassess.py) ---

    async def update_profile(self, beneficiary_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("PATCH", f"/v1/beneficiaries/{beneficiary_id}", json=body)

    async def profile_changes(self, beneficiary_id: str) -> list[dict[str, Any]]:
        return await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/profile-changes")

    async def assessments(self, beneficiary_id: str) -> list[dict[str, Any]]:
        return await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/assessments")

    async def record_assessment(self, beneficiary_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", f"/v1/beneficiaries/{beneficiary_id}/assessments", json=body)

    async def reassessments_due(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self.json("GET", "/v1/reassessments/due", params=params)

    async def reassessments_due_file(self, params: dict[str, Any]) -> bytes:
        return (await self.request("GET", "/v1/reassessments/due", params=params)).content

    async def spot_draws(self) -> list[dict[str, Any]]:
        return await self.json("GET", "/v1/spot-draws")

    async def spot_draw(self, draw_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/spot-draws/{draw_id}")

    async def spot_draw_file(self, draw_id: str, fmt: str) -> bytes:
        return (
            await self.request("GET", f"/v1/spot-draws/{draw_id}", params={"format": fmt})
        ).content

    async def run_spot_draw(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/v1/spot-draws", json=body)

    async def status_changes(self, beneficiary_id: str) -> list[dict[str, Any]]:
        data = await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/status-changes")
        return _rows(data, "items")

    async def record_status(
        self, beneficiary_id: str, body: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        return await self.json(
            "POST",
            f"/v1/beneficiaries/{beneficiary_id}/status-changes",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )

    async def status_import(
        self, filename: str, content: bytes, content_type: str
    ) -> dict[str, Any]:
        return await self.json(
            "POST", "/v1/status-imports", files={"file": (filename, content, content_type)}
        )

    async def cards(self, beneficiary_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/cards"), "items")

    async def proxies(self, beneficiary_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/proxies"), "items")

    async def set_payout_account(self, beneficiary_id: str, body: dict[str, str]) -> dict[str, Any]:
        """Record or replace the bank account the person's cash benefits are paid to."""
        return await self.json(
            "PUT", f"/v1/beneficiaries/{beneficiary_id}/payout-account", json=body
        )

    # cards and proxies from the officer's person page (web/routes/officer_cards.py)
    async def issue_card(self, beneficiary_id: str) -> dict[str, Any]:
        """A new card (replacing any earlier one): its id, code and PIN (this answer only)."""
        return await self.json("POST", f"/v1/beneficiaries/{beneficiary_id}/cards")

    async def unlock_card(self, beneficiary_id: str, card_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/beneficiaries/{beneficiary_id}/cards/{card_id}/unlock")

    async def add_proxy(self, beneficiary_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", f"/v1/beneficiaries/{beneficiary_id}/proxies", json=body)

    async def revoke_proxy(self, beneficiary_id: str, proxy_id: str) -> dict[str, Any]:
        return await self.json(
            "POST", f"/v1/beneficiaries/{beneficiary_id}/proxies/{proxy_id}/revoke"
        )

    async def import_columns(self, kind: str) -> list[dict[str, Any]]:
        """The columns of an import file (`beneficiaries`, `status`), headings in Chinese."""
        return _rows(await self.json("GET", f"/v1/imports/templates/{kind}"), "items")

    async def import_template(self, kind: str, fmt: str) -> bytes:
        """The empty file to fill in (csv or xlsx)."""
        path = f"/v1/imports/templates/{kind}"
        return (await self.request("GET", path, params={"format": fmt})).content

    async def import_file(self, filename: str, content: bytes, content_type: str) -> dict[str, Any]:
        return await self.json(
            "POST", "/v1/beneficiaries/import", files={"file": (filename, content, content_type)}
        )

    async def start_issuance(
        self, program_code: str, period: str, region_code: str
    ) -> dict[str, Any]:
        # The run answers when it is done (it resumes if cut short), so allow it time.
        return await self.json(
            "POST",
            "/v1/issuance-runs",
            json={"program_code": program_code, "period": period, "region_code": region_code},
            timeout=600,
        )

    async def issuance_preview(
        self, program_code: str, period: str, region_code: str
    ) -> dict[str, Any]:
        """What a run would issue now and what it commits, beside the budget (writes nothing)."""
        return await self.json(
            "GET",
            "/v1/issuance-preview",
            params={"program_code": program_code, "period": period, "region_code": region_code},
        )

    async def issuance_run(self, run_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/issuance-runs/{run_id}")

    async def issuance_runs(self, region_code: str, limit: int = 10) -> list[dict[str, Any]]:
        data = await self.json(
            "GET", "/v1/issuance-runs", params={"region_code": region_code, "limit": limit}
        )
        return _rows(data, "runs")

    # --- anomaly rules, alerts, recoveries (services/voucher/api/alerts.py) ---
    async def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/alerts", params=_clean({"status": status}))
        return _rows(data, "items")

    async def alert(self, alert_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/alerts/{alert_id}")

    async def decide_alert(self, alert_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", f"/v1/alerts/{alert_id}/decision", json=body)

    async def rule_settings(self, region_code: str) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/anomaly-rules", params={"region_code": region_code})
        return _rows(data, "items")

    async def rule_history(self, region_code: str) -> list[dict[str, Any]]:
        data = await self.json(
            "GET", "/v1/anomaly-rules/versions", params={"region_code": region_code}
        )
        return _rows(data, "items")

    async def update_rule(self, rule_code: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("PUT", f"/v1/anomaly-rules/{rule_code}", json=body)

    async def recoveries(self, provider_id: str) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/recoveries", params={"provider_id": provider_id})
        return _rows(data, "items")

    async def issuance_schedule(self) -> list[dict[str, Any]]:
        return list(await self.json("GET", "/v1/issuance-schedule"))

    async def programs(self) -> list[dict[str, Any]]:
        return list(await self.json("GET", "/v1/programs"))

    async def create_program(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.json("POST", "/v1/programs", json=body))

    async def preview_program(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.json("POST", "/v1/programs/preview", json=body))


class TerminalClient(ServiceClient):
    """The voucher service as a provider terminal sees it (bearer = the terminal secret)."""

    async def redeem(
        self,
        token: str,
        items: list[dict[str, Any]],
        gross_fen: int,
        idempotency_key: str,
        staff_id: str | None = None,
        visit_id: str | None = None,
        pin: str | None = None,
    ) -> dict[str, Any]:
        """Redeem a bill (`items` as `POST /v1/redemptions` takes them) whose total the
        person was shown: a price list changed meanwhile is refused (BILL_MISMATCH).
        `staff_id`: the signed-in staff member, recorded with the redemption and its entry;
        a home-visit item names its completed visit (`visit_id`); a printed card needs its
        PIN (in the body, never in a URL)."""
        body: dict[str, Any] = {
            "token": token,
            "items": items,
            "gross_fen": gross_fen,
            "idempotency_key": idempotency_key,
        }
        if staff_id is not None:
            body["staff_id"] = staff_id
        if visit_id:
            body["visit_id"] = visit_id
        if pin:
            body["pin"] = pin
        return await self.json("POST", "/v1/redemptions", json=body)

    # home visits (docs/voucher-redemption.md, "Home visits")
    async def check_in(
        self, token: str, lat: float, lon: float, care_worker: str | None, pin: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"token": token, "lat": lat, "lon": lon}
        if care_worker:
            body["care_worker"] = care_worker
        if pin:
            body["pin"] = pin
        return await self.json("POST", "/v1/visits", json=body)

    async def check_out(
        self, visit_id: str, token: str, lat: float, lon: float, pin: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"token": token, "lat": lat, "lon": lon}
        if pin:
            body["pin"] = pin
        return await self.json("POST", f"/v1/visits/{visit_id}/check-out", json=body)

    async def visits(self, status: str = "open", unbilled: bool = False) -> list[dict[str, Any]]:
        params = {"status": status, "unbilled": "true" if unbilled else "false"}
        return _rows(await self.json("GET", "/v1/visits", params=params), "items")

    async def visit(self, visit_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/visits/{visit_id}")

    async def void(self, redemption_id: str, reason: str) -> dict[str, Any]:
        return await self.json(
            "POST", f"/v1/redemptions/{redemption_id}/void", json={"reason": reason}
        )

    async def preview(
        self,
        token: str,
        items: list[dict[str, Any]],
        gross_fen: int,
        visit_id: str | None = None,
        pin: str | None = None,
    ) -> dict[str, Any] | None:
        """The bill priced by the voucher service, with the subsidy and co-payment the
        redemption would give, changing nothing; None while the voucher service offers no
        preview (`POST /v1/redemptions/preview`)."""
        try:
            body: dict[str, Any] = {"token": token, "items": items, "gross_fen": gross_fen}
            if visit_id:
                body["visit_id"] = visit_id
            if pin:
                body["pin"] = pin
            return await self.json("POST", "/v1/redemptions/preview", json=body)
        except ApiError as exc:
            if exc.status in (404, 405) and exc.code in ("NOT_FOUND", "METHOD_NOT_ALLOWED"):
                return None
            raise


REVIEW_STEPS = ("approve", "request-changes", "refuse", "resubmit", "suspend", "revoke")


# Provider ids a call when a page names many providers (the register takes up to 500).
NAMES_PER_CALL = 100


class ProviderClient(ServiceClient):
    async def nearby(
        self, lat: float, lon: float, radius_m: int = 1500, kind: str | None = None
    ) -> list[dict[str, Any]]:
        data = await self.json(
            "GET",
            "/v1/providers",
            params=_clean({"lat": lat, "lon": lon, "radius_m": radius_m, "kind": kind}),
        )
        return _rows(data, "providers")

    async def get(self, provider_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/providers/{provider_id}")

    async def credit(self, provider_id: str) -> dict[str, Any]:
        """The provider's credit record: points, threshold, every event."""
        return await self.json("GET", f"/v1/providers/{provider_id}/credit")

    async def listing(
        self, status: str | None = None, region_code: str | None = None
    ) -> list[dict[str, Any]]:
        data = await self.json(
            "GET", "/v1/providers", params=_clean({"status": status, "region_code": region_code})
        )
        return _rows(data, "providers")

    async def register_page(
        self, region_code: str | None, cursor: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """One page of the register (`items`, `next_cursor`), every status."""
        return await self.json(
            "GET",
            "/v1/providers",
            params=_clean({"region_code": region_code, "cursor": cursor, "limit": limit}),
        )

    async def names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of these providers, `NAMES_PER_CALL` ids a call to the register; an id
        that is not a provider's, or not in the caller's scope, is absent from the answer."""
        wanted = sorted({i for i in ids if is_uuid(i)})
        found: dict[str, str] = {}
        for start in range(0, len(wanted), NAMES_PER_CALL):
            chunk = wanted[start : start + NAMES_PER_CALL]
            page = await self.json(
                "GET",
                "/v1/providers",
                params=[("id", i) for i in chunk] + [("limit", str(len(chunk)))],
            )
            found.update((p["id"], p["name"]) for p in page.get("items", []))
        return found

    async def terminals(self, provider_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json("GET", f"/v1/providers/{provider_id}/terminals"), "terminals")

    async def revoke_terminal(self, provider_id: str, terminal_id: str) -> dict[str, Any]:
        return await self.json(
            "POST", f"/v1/providers/{provider_id}/terminals/{terminal_id}/revoke"
        )

    async def new_terminal(self, provider_id: str, name: str, request_key: str) -> dict[str, Any]:
        """Issue a terminal; the same `request_key` again answers the same one."""
        return await self.json(
            "POST",
            f"/v1/providers/{provider_id}/terminals",
            json={"name": name},
            headers={"Idempotency-Key": request_key},
        )

    async def change_status(
        self, provider_id: str, action: str, reason: str | None
    ) -> dict[str, Any]:
        """One step of the review (services/provider/service/review_rules.py `STEPS`)."""
        if action not in REVIEW_STEPS:
            raise ValueError(action)
        return await self.json(
            "POST", f"/v1/providers/{provider_id}/{action}", json=_clean({"reason": reason})
        )

    # --- licence documents kept with the application (services/provider/api/documents.py) ---
    async def documents(self, provider_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json("GET", f"/v1/providers/{provider_id}/documents"), "items")

    async def upload_document(
        self, provider_id: str, kind: str, filename: str, content: bytes, content_type: str
    ) -> dict[str, Any]:
        return await self.json(
            "POST",
            f"/v1/providers/{provider_id}/documents",
            data={"kind": kind},
            files={"file": (filename, content, content_type)},
        )

    async def document(self, provider_id: str, document_id: str) -> httpx.Response:
        """The file, as the service answers it (content type and disposition)."""
        return await self.request("GET", f"/v1/providers/{provider_id}/documents/{document_id}")

    # --- settlement bank account changes (services/provider/service/bank_account.py) ---
    async def request_bank_change(
        self, provider_id: str, account: dict[str, str]
    ) -> dict[str, Any]:
        return await self.json(
            "PATCH", f"/v1/providers/{provider_id}", json={"bank_account": account}
        )

    async def pending_bank_changes(self) -> list[dict[str, Any]]:
        """Bank account changes waiting for a decision in the caller's region."""
        return _rows(await self.json("GET", "/v1/bank-account-changes"), "items")

    async def bank_changes(self, provider_id: str) -> list[dict[str, Any]]:
        return _rows(
            await self.json("GET", f"/v1/providers/{provider_id}/bank-account-changes"), "items"
        )

    async def decide_bank_change(
        self, provider_id: str, change_id: str, approve: bool, reason: str | None
    ) -> dict[str, Any]:
        return await self._decide("bank-account-changes", provider_id, change_id, approve, reason)

    async def _decide(
        self, kind: str, provider_id: str, change_id: str, approve: bool, reason: str | None
    ) -> dict[str, Any]:
        """An officer's decision on a change the provider's admin asked for (`kind`: its
        collection under the provider)."""
        action = "approve" if approve else "reject"
        return await self.json(
            "POST",
            f"/v1/providers/{provider_id}/{kind}/{change_id}/{action}",
            json=_clean({"reason": reason}),
        )

    async def set_price_list(self, provider_id: str, services: list[dict[str, Any]]) -> bool:
        """Replace the price list: True when it is in force at once, False when it raises
        prices and waits for an officer (202)."""
        resp = await self.request(
            "PUT", f"/v1/providers/{provider_id}/services", json={"services": services}
        )
        return resp.status_code != 202

    async def pending_price_changes(self) -> list[dict[str, Any]]:
        """Price lists raising what public money pays, waiting in the caller's region."""
        return _rows(await self.json("GET", "/v1/price-list-changes"), "items")

    async def price_changes(self, provider_id: str) -> list[dict[str, Any]]:
        return _rows(
            await self.json("GET", f"/v1/providers/{provider_id}/price-list-changes"), "items"
        )

    async def decide_price_change(
        self, provider_id: str, change_id: str, approve: bool, reason: str | None
    ) -> dict[str, Any]:
        return await self._decide("price-list-changes", provider_id, change_id, approve, reason)


class LedgerClient(ServiceClient):
    async def trial_balance(
        self, as_of: str | None = None, region_code: str | None = None
    ) -> dict[str, Any]:
        return await self.json(
            "GET", "/v1/trial-balance", params=_clean({"as_of": as_of, "region_code": region_code})
        )

    async def entries(self, **filters: Any) -> dict[str, Any]:
        if "from_" in filters:
            filters["from"] = filters.pop("from_")
        return await self.json("GET", "/v1/entries", params=_clean(filters))

    async def verify_chain(self, book: str | None = None) -> dict[str, Any]:
        """The whole ledger; or one book (`4501`, `main`), or `root`: the root chain over
        the books' heads and the stored balances."""
        return await self.json(
            "GET", "/v1/chain/verify", params=_clean({"book": book}), timeout=600
        )

    async def chain_books(self) -> list[dict[str, Any]]:
        return list(await self.json("GET", "/v1/chain/books"))

    async def entries_file(self, fmt: str, **filters: Any) -> httpx.Response:
        """Every entry matching the filters as a CSV or XLSX file (one row per posting)."""
        return await self.request(
            "GET", "/v1/entries", params=_clean({**filters, "format": fmt}), timeout=120
        )

    async def trial_balance_file(
        self, fmt: str, as_of: str | None = None, region_code: str | None = None
    ) -> httpx.Response:
        return await self.request(
            "GET",
            "/v1/trial-balance",
            params=_clean({"as_of": as_of, "region_code": region_code, "format": fmt}),
        )

    async def journal_export(self, as_of: str | None = None) -> httpx.Response:
        """The whole journal as the self-describing zip (province-wide)."""
        return await self.request(
            "GET", "/v1/journal/export", params=_clean({"as_of": as_of}), timeout=300
        )

    async def checkpoints(self, limit: int = 20) -> dict[str, Any]:
        return await self.json("GET", "/v1/chain/checkpoints", params={"limit": limit})

    async def checkpoints_file(self) -> httpx.Response:
        return await self.request("GET", "/v1/chain/checkpoints", params={"format": "jsonl"})

    async def reconciliation(self, period: str, region_code: str | None = None) -> dict[str, Any]:
        return await self.json(
            "GET",
            "/v1/reconciliation",
            params=_clean({"period": period, "region_code": region_code}),
        )

    async def reconciliation_file(
        self, period: str, region_code: str | None, fmt: str
    ) -> httpx.Response:
        return await self.request(
            "GET",
            "/v1/reconciliation",
            params=_clean({"period": period, "region_code": region_code, "format": fmt}),
        )

    async def claims(
        self, status: str | None = None, region_code: str | None = None
    ) -> list[dict[str, Any]]:
        data = await self.json(
            "GET", "/v1/claims", params=_clean({"status": status, "region_code": region_code})
        )
        return _rows(data, "claims")

    async def claim(self, claim_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/claims/{claim_id}")

    async def approve_claim(self, claim_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/claims/{claim_id}/approve")

    async def reject_claim(self, claim_id: str, reasons: list[str]) -> dict[str, Any]:
        return await self.json("POST", f"/v1/claims/{claim_id}/reject", json={"reasons": reasons})

    async def provider_claims(self, provider_id: str) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/claims", params={"provider_id": provider_id})
        return _rows(data, "claims")

    async def claimable(self, provider_id: str, period: str) -> dict[str, Any]:
        return await self.json(
            "GET", "/v1/claims/claimable", params={"provider_id": provider_id, "period": period}
        )

    async def create_claim(
        self, provider_id: str, period: str, idempotency_key: str
    ) -> dict[str, Any]:
        return await self.json(
            "POST",
            "/v1/claims",
            json={"provider_id": provider_id, "period": period, "idempotency_key": idempotency_key},
        )

    async def budget_execution(self, region_code: str) -> dict[str, Any]:
        """Every programme's budget over the region's subtree (its own and every region
        below), by funding source."""
        return await self.json("GET", "/v1/budget/execution", params={"region_code": region_code})

    # --- payment batches, statements, aging (services/ledger/settlement) -------------------
    async def payment_batches(self, cursor: str | None = None, limit: int = 20) -> dict[str, Any]:
        return await self.json(
            "GET", "/v1/payment-batches", params=_clean({"cursor": cursor, "limit": limit})
        )

    async def payable_cash_benefits(self, period: str, region_code: str) -> dict[str, Any]:
        return await self.json(
            "GET",
            "/v1/cash-benefits/payable",
            params={"period": period, "region_code": region_code},
        )

    async def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/v1/payment-batches", json=body)

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/payment-batches/{batch_id}")

    async def batch_file(self, batch_id: str) -> httpx.Response:
        return await self.request("GET", f"/v1/payment-batches/{batch_id}/file")

    async def confirm_batch(self, batch_id: str, content: bytes) -> dict[str, Any]:
        return await self.json(
            "POST",
            f"/v1/payment-batches/{batch_id}/confirmations",
            content=content,
            headers={"Content-Type": "text/csv"},
        )

    async def statement(self, provider_id: str, period: str) -> dict[str, Any]:
        return await self.json(
            "GET", f"/v1/providers/{provider_id}/statement", params={"period": period}
        )

    async def aging(self) -> dict[str, Any]:
        return await self.json("GET", "/v1/aging")


@dataclass
class Transports:
    """Per-service transports; None means the real network (the configured URL)."""

    voucher: httpx.AsyncBaseTransport | None = None
    provider: httpx.AsyncBaseTransport | None = None
    ledger: httpx.AsyncBaseTransport | None = None
