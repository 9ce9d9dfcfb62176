"""One small HTTP client per service, carrying the signed-in person's bearer token.

Pages call these and never build URLs themselves. A refusal from a service becomes an
`ApiError` with a friendly Chinese message (by the stable error code; otherwise the
service's own message). Transports are injectable so tests run the services in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

FRIENDLY: dict[str, str] = {
    "UNAUTHENTICATED": "登录已失效，请重新登录。",
    "TOKEN_EXPIRED": "二维码或登录已过期，请刷新后再试。",
    "INVALID_TOKEN": "二维码无效，请让老人刷新二维码后重新扫描。",
    "INVALID_TERMINAL": "本机终端未登记或已停用，请联系机构管理员。",
    "ROLE_NOT_ALLOWED": "您的账号没有这项权限。",
    "OUT_OF_SCOPE": "这不在您负责的范围内。",
    "FORBIDDEN": "您的账号没有这项权限。",
    "NOT_FOUND": "没有找到相关记录。",
    "VALIDATION_ERROR": "填写的内容有误，请检查后再提交。",
    "FIELD_REQUIRED": "有必填项没有填写。",
    "TOKEN_USED": "这个二维码已经用过了，请让老人刷新二维码。",
    "TOKEN_REPLAYED": "这个二维码已经用过了，请让老人刷新二维码。",
    "INSUFFICIENT_BALANCE": "补贴券余额不足。",
    "VOUCHER_EXPIRED": "补贴券已过期。",
    "NO_USABLE_VOUCHER": "没有可在本机构、本项服务使用的补贴券。",
    "DAY_LIMIT_REACHED": "今天的使用次数已经用完了。",
    "BENEFICIARY_INACTIVE": "老人的补贴资格已暂停。",
    "PROVIDER_NOT_APPROVED": "本机构目前不能受理补贴券。",
    "SERVICE_NOT_ALLOWED": "这项服务不在补贴范围内。",
    "IDEMPOTENCY_KEY_REUSED": "这笔交易已经提交过，内容不同，请重新开始。",
    "INVALID_NATIONAL_ID": "身份证号码不正确，请核对。",
    "DUPLICATE_BENEFICIARY": "这位老人已经登记过了。",
    "INVALID_TRANSITION": "当前状态下不能进行这个操作。",
    "BUDGET_EXCEEDED": "预算不足，无法发放。",
    "MAKER_CHECKER": "不能审批自己制作的结算申请，请由另一位财务人员审批。",
    "SAME_PERSON": "不能审批自己制作的结算申请，请由另一位财务人员审批。",
    "FILTER_NOT_SUPPORTED": "这组查询条件不适用，请换一种条件。",
    "SERVICE_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    # The voucher service's own codes (services/voucher/errors.py, service/redemption.py).
    "TOKEN_INVALID": "二维码无效，请让老人刷新二维码后重新扫描。",
    "PIN_REQUIRED": "这张卡需要输入密码。",
    "PIN_INCORRECT": "密码不对，请再试一次。",
    "CARD_LOCKED": "密码错误次数太多，这张卡已锁定，请联系民政部门。",
    "CARD_NOT_VALID": "这张卡已挂失或无效。",
    "BENEFICIARY_NOT_ACTIVE": "老人的补贴资格已暂停。",
    "VOUCHER_EXHAUSTED": "补贴券余额已用完。",
    "DAILY_LIMIT_REACHED": "今天的使用次数已经用完了。",
    "BILL_TOO_SMALL": "消费金额太小，不能使用这项补贴。",
    "SERVICE_NOT_OFFERED": "这项服务不在本机构的价目表上。",
    "INVALID_AMOUNT": "请输入正确的金额。",
    "REDEMPTION_VOIDED": "这笔交易已经撤销过了。",
    "REDEMPTION_ALREADY_CLAIMED": "这笔交易已经申请结算，不能撤销。",
    "IDEMPOTENCY_KEY_IN_USE": "这笔交易正在处理，请稍候再看结果。",
    "BENEFICIARY_EXISTS": "这位老人已经登记过了。",
    "BENEFICIARY_NOT_FOUND": "没有找到这位老人。",
    "ISSUANCE_RUN_NOT_FOUND": "没有找到这次发放记录。",
    "STATUS_TRANSITION_NOT_ALLOWED": "当前状态下不能进行这个操作。",
    "INVALID_PERIOD": "月份格式不对，请按 2026-11 这样填写。",
    "INVALID_REGION": "行政区划代码不正确。",
    "UNSUPPORTED_FILE": "请上传 CSV 或 Excel 文件。",
    "LEDGER_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    "LEDGER_REFUSED": "预算不足或账本拒绝了这笔发放。",
    "NO_BUDGET": "预算不足，无法发放。",
    # Settlement (services/ledger/settlement/errors.py).
    "CLAIM_NOT_FOUND": "没有找到这笔结算申请。",
    "NOTHING_TO_CLAIM": "这个月没有可以申请结算的交易。",
    "CLAIM_LINES_REFUSED": "有交易不能结算（已撤销、已申请或不属于这个月），请刷新后再试。",
    "CLAIM_STATUS_CONFLICT": "这笔结算申请已经处理过了。",
    "MAKER_CHECKER_VIOLATION": "不能审批自己制作的结算申请，请由另一位财务人员审批。",
    "VOUCHER_SERVICE_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    "CLAIM_IN_PROGRESS": "这笔结算申请正在处理，请稍候刷新。",
    "REDEMPTION_CLAIMED": "这笔交易已经申请结算，不能撤销。",
    "BATCH_NOT_FOUND": "没有找到这个付款批次。",
    "NOTHING_TO_PAY": "没有可以付款的结算申请或护理补贴。",
    "BANK_ACCOUNT_MISSING": "有服务机构没有登记收款银行账户，请先补全。",
    "CLAIMS_NOT_PAYABLE": "有结算申请已经付款或已在别的批次中，请刷新后再选。",
    "CONFIRMATION_INVALID": "银行回单与这个批次对不上（批次号、明细号或金额不符），"
                            "没有入账任何一笔，请核对后重新上传。",
    "FILE_TOO_LARGE": "文件太大了，请上传 5MB 以内的文件。",
    "PROVIDER_SERVICE_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    # Co-payments (services/voucher/service/copay.py).
    "COPAYMENT_NOT_FOUND": "没有找到这笔自付款。",
    "NO_COPAYMENT_DUE": "这笔交易没有需要老人自付的钱。",
    "COPAYMENT_NOT_PAYABLE": "这笔自付款已经付过，或者交易已撤销，不用再付了。",
    "REFUND_EXCEEDS_CAPTURED": "退款不能超过已收的自付款。",
    "PAYMENT_PROVIDER_UNAVAILABLE": "在线支付暂时打不开，请稍后再试。",
    # The provider service's codes (services/provider/errors.py).
    "ILLEGAL_TRANSITION": "当前状态下不能进行这个操作。",
    "PROVIDER_NOT_FOUND": "没有找到这家服务机构。",
    "PROVIDER_REVOKED": "这家服务机构已被撤销资格。",
    "TERMINAL_NOT_FOUND": "没有找到这台终端。",
    "TERMINAL_ALREADY_REVOKED": "这台终端已经停用了。",
    "USCC_ALREADY_REGISTERED": "这个统一社会信用代码已经登记过了。",
    "BANK_CHANGE_NOT_FOUND": "没有找到这条收款账户变更申请。",
    "BANK_CHANGE_NOT_PENDING": "这条收款账户变更已经处理过了（或已被新的申请替代），请刷新后再看。",
    "INTERNAL_ERROR": "系统出了点问题，请稍后再试。",
}


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    field: str | None = None
    details: Any = None

    @property
    def friendly(self) -> str:
        return FRIENDLY.get(self.code, self.message)

    def __str__(self) -> str:
        return f"{self.status} {self.code}"


def make_http(base_url: str, transport: httpx.AsyncBaseTransport | None = None,
              timeout_s: float = 10.0) -> httpx.AsyncClient:
    """The connection pool to one service, shared by every request of the web app."""
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s)


class ServiceClient:
    """Calls one service as one person: their bearer token on each request, over either a
    shared pool (`http`, the app's) or a client of its own (`base_url` + `transport`)."""

    def __init__(self, base_url: str, token: str | None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 10.0, http: httpx.AsyncClient | None = None) -> None:
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owned = http is None
        self._client = http or make_http(base_url, transport, timeout_s)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self._headers}
        try:
            resp = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(503, "SERVICE_UNAVAILABLE", "service unreachable") from exc
        if resp.status_code >= 400:
            raise _error_of(resp)
        return resp

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()


def _error_of(resp: httpx.Response) -> ApiError:
    try:
        err = resp.json().get("error") or {}
    except ValueError:
        err = {}
    code = err.get("code") or ("INTERNAL_ERROR" if resp.status_code >= 500 else "HTTP_ERROR")
    return ApiError(resp.status_code, code, err.get("message") or resp.reason_phrase,
                    err.get("field"), err.get("details"))


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

    async def new_code(self, beneficiary_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/beneficiaries/{beneficiary_id}/codes")

    async def code_svg(self, token: str) -> bytes:
        return (await self.request("GET", f"/v1/codes/{token}.svg")).content

    async def redemptions(self, beneficiary_id: str) -> list[dict[str, Any]]:
        data = await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/redemptions")
        return _rows(data, "redemptions")

    async def provider_day(self, provider_id: str, day: str) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/redemptions",
                               params={"provider_id": provider_id, "date": day})
        return _rows(data, "redemptions")

    async def void(self, redemption_id: str, reason: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/redemptions/{redemption_id}/void",
                               json={"reason": reason})

    # --- co-payments (services/voucher/api/copay.py) ---
    async def start_copayment(self, redemption_id: str, method: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/redemptions/{redemption_id}/copayment",
                               json={"method": method})

    async def copayments_due(self, beneficiary_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json("GET", f"/v1/beneficiaries/{beneficiary_id}/copayments"),
                     "copayments")

    async def copayment(self, copayment_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/copayments/{copayment_id}")

    async def copayment_client_secret(self, copayment_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/copayments/{copayment_id}/client-secret")

    async def sync_copayment(self, copayment_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/copayments/{copayment_id}/sync")

    async def enrol(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/v1/beneficiaries", json=body)

    async def import_file(self, filename: str, content: bytes, content_type: str
                          ) -> dict[str, Any]:
        return await self.json("POST", "/v1/beneficiaries/import",
                               files={"file": (filename, content, content_type)})

    async def start_issuance(self, program_code: str, period: str, region_code: str
                             ) -> dict[str, Any]:
        # The run answers when it is done (it resumes if cut short), so allow it time.
        return await self.json("POST", "/v1/issuance-runs", json={
            "program_code": program_code, "period": period, "region_code": region_code},
            timeout=600)

    async def issuance_run(self, run_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/issuance-runs/{run_id}")


class TerminalClient(ServiceClient):
    """The voucher service as a provider terminal sees it (bearer = the terminal secret)."""

    async def redeem(self, token: str, service_code: str, gross_fen: int,
                     idempotency_key: str) -> dict[str, Any]:
        return await self.json("POST", "/v1/redemptions", json={
            "token": token, "service_code": service_code, "gross_fen": gross_fen,
            "idempotency_key": idempotency_key})

    async def void(self, redemption_id: str, reason: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/redemptions/{redemption_id}/void",
                               json={"reason": reason})

    async def preview(self, token: str, service_code: str, gross_fen: int
                      ) -> dict[str, Any] | None:
        """Subsidy and co-payment the redemption would give, changing nothing; None while
        the voucher service offers no preview (`POST /v1/redemptions/preview`)."""
        try:
            return await self.json("POST", "/v1/redemptions/preview", json={
                "token": token, "service_code": service_code, "gross_fen": gross_fen})
        except ApiError as exc:
            if exc.status in (404, 405) and exc.code in ("NOT_FOUND", "METHOD_NOT_ALLOWED"):
                return None
            raise


class ProviderClient(ServiceClient):
    async def nearby(self, lat: float, lon: float, radius_m: int = 1500,
                     kind: str | None = None) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/providers", params=_clean(
            {"lat": lat, "lon": lon, "radius_m": radius_m, "kind": kind}))
        return _rows(data, "providers")

    async def get(self, provider_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/providers/{provider_id}")

    async def listing(self, status: str | None = None) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/providers", params=_clean({"status": status}))
        return _rows(data, "providers")

    async def terminals(self, provider_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json("GET", f"/v1/providers/{provider_id}/terminals"),
                     "terminals")

    async def new_terminal(self, provider_id: str, name: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/providers/{provider_id}/terminals",
                               json={"name": name})

    async def change_status(self, provider_id: str, action: str, reason: str
                            ) -> dict[str, Any]:
        if action not in ("approve", "suspend", "revoke"):
            raise ValueError(action)
        return await self.json("POST", f"/v1/providers/{provider_id}/{action}",
                               json={"reason": reason})

    # --- settlement bank account changes (services/provider/service/bank_account.py) ---
    async def request_bank_change(self, provider_id: str, account: dict[str, str]
                                  ) -> dict[str, Any]:
        return await self.json("PATCH", f"/v1/providers/{provider_id}",
                               json={"bank_account": account})

    async def pending_bank_changes(self) -> list[dict[str, Any]]:
        """Bank account changes waiting for a decision in the caller's region."""
        return _rows(await self.json("GET", "/v1/bank-account-changes"), "items")

    async def bank_changes(self, provider_id: str) -> list[dict[str, Any]]:
        return _rows(await self.json(
            "GET", f"/v1/providers/{provider_id}/bank-account-changes"), "items")

    async def decide_bank_change(self, provider_id: str, change_id: str, approve: bool,
                                 reason: str | None) -> dict[str, Any]:
        action = "approve" if approve else "reject"
        return await self.json(
            "POST", f"/v1/providers/{provider_id}/bank-account-changes/{change_id}/{action}",
            json=_clean({"reason": reason}))


class LedgerClient(ServiceClient):
    async def trial_balance(self, as_of: str | None = None, region_code: str | None = None
                            ) -> dict[str, Any]:
        return await self.json("GET", "/v1/trial-balance",
                               params=_clean({"as_of": as_of, "region_code": region_code}))

    async def entries(self, **filters: Any) -> dict[str, Any]:
        if "from_" in filters:
            filters["from"] = filters.pop("from_")
        return await self.json("GET", "/v1/entries", params=_clean(filters))

    async def verify_chain(self) -> dict[str, Any]:
        return await self.json("GET", "/v1/chain/verify")

    async def reconciliation(self, period: str, region_code: str | None = None
                             ) -> dict[str, Any]:
        return await self.json("GET", "/v1/reconciliation",
                               params=_clean({"period": period, "region_code": region_code}))

    async def reconciliation_file(self, period: str, region_code: str | None, fmt: str
                                  ) -> httpx.Response:
        return await self.request("GET", "/v1/reconciliation", params=_clean(
            {"period": period, "region_code": region_code, "format": fmt}))

    async def claims(self, status: str | None = None, region_code: str | None = None
                     ) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/claims",
                               params=_clean({"status": status, "region_code": region_code}))
        return _rows(data, "claims")

    async def claim(self, claim_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/claims/{claim_id}")

    async def approve_claim(self, claim_id: str) -> dict[str, Any]:
        return await self.json("POST", f"/v1/claims/{claim_id}/approve")

    async def reject_claim(self, claim_id: str, reasons: list[str]) -> dict[str, Any]:
        return await self.json("POST", f"/v1/claims/{claim_id}/reject",
                               json={"reasons": reasons})

    async def provider_claims(self, provider_id: str) -> list[dict[str, Any]]:
        data = await self.json("GET", "/v1/claims", params={"provider_id": provider_id})
        return _rows(data, "claims")

    async def claimable(self, provider_id: str, period: str) -> dict[str, Any]:
        return await self.json("GET", "/v1/claims/claimable",
                               params={"provider_id": provider_id, "period": period})

    async def create_claim(self, provider_id: str, period: str, idempotency_key: str
                           ) -> dict[str, Any]:
        return await self.json("POST", "/v1/claims", json={
            "provider_id": provider_id, "period": period, "idempotency_key": idempotency_key})

    async def budget(self, program_code: str, region_code: str) -> dict[str, Any]:
        return await self.json("GET", "/v1/budget", params={
            "program_code": program_code, "region_code": region_code})

    # --- payment batches, statements, aging (services/ledger/settlement) -------------------
    async def payment_batches(self, cursor: str | None = None, limit: int = 20
                              ) -> dict[str, Any]:
        return await self.json("GET", "/v1/payment-batches",
                               params=_clean({"cursor": cursor, "limit": limit}))

    async def payable_cash_benefits(self, period: str, region_code: str) -> dict[str, Any]:
        return await self.json("GET", "/v1/cash-benefits/payable",
                               params={"period": period, "region_code": region_code})

    async def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/v1/payment-batches", json=body)

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/payment-batches/{batch_id}")

    async def batch_file(self, batch_id: str) -> httpx.Response:
        return await self.request("GET", f"/v1/payment-batches/{batch_id}/file")

    async def confirm_batch(self, batch_id: str, content: bytes) -> dict[str, Any]:
        return await self.json("POST", f"/v1/payment-batches/{batch_id}/confirmations",
                               content=content, headers={"Content-Type": "text/csv"})

    async def statement(self, provider_id: str, period: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/providers/{provider_id}/statement",
                               params={"period": period})

    async def aging(self) -> dict[str, Any]:
        return await self.json("GET", "/v1/aging")


@dataclass
class Transports:
    """Per-service transports; None means the real network (the configured URL)."""

    voucher: httpx.AsyncBaseTransport | None = None
    provider: httpx.AsyncBaseTransport | None = None
    ledger: httpx.AsyncBaseTransport | None = None
