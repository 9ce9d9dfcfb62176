"""Every code a page shows, in Chinese: one place for the labels, used by the templates as
filters (`{{ p.status|label('provider_status') }}`, `{{ at|local_time }}`).

The services speak in stable codes (`approved`, `disability_subsidy`, `MEAL_LUNCH`,
`appropriation`); a person reads words. A code with no label is shown as `未知（…）` only
when it is a code we do not know yet, so a new one is noticed rather than passed off as
Chinese. Times are the services' UTC instants, shown in Asia/Shanghai.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.common import crypto
from services.common.regions import ancestors, region_name
from web.roles import ROLE_NAMES

BEIJING = ZoneInfo("Asia/Shanghai")

LABELS: dict[str, dict[str, str]] = {
    "role": ROLE_NAMES,
    "program": {
        "disability_subsidy": "失能老年人养老服务消费补贴",
        "meal_assistance": "老年助餐补贴",
        "nursing_subsidy": "护理补贴",
    },
    "program_short": {
        "disability_subsidy": "失能补贴",
        "meal_assistance": "老年助餐",
        "nursing_subsidy": "护理补贴",
    },
    "voucher_status": {
        "active": "可使用",
        "exhausted": "已用完",
        "expired": "已过期",
        "revoked": "已停用",
        "suspended": "已暂停",
    },
    "provider_status": {
        "applied": "待审批",
        "changes_requested": "退回补正",
        "approved": "已批准",
        "suspended": "已暂停",
        "revoked": "已撤销资格",
        "refused": "不予批准",
    },
    # The review's steps as an officer or a provider reads them (review_rules.py `STEPS`).
    "review_action": {
        "approve": "批准",
        "request-changes": "退回补正",
        "refuse": "不予批准",
        "resubmit": "重新提交",
        "suspend": "暂停",
        "revoke": "撤销资格",
    },
    "document_kind": {
        "business_licence": "营业执照",
        "food_licence": "食品经营许可证",
        "institution_registration": "养老机构备案回执",
        "fire_safety": "消防安全证明",
        "other": "其他证明材料",
    },
    "provider_kind": {
        "meal_point": "助餐点",
        "community_embedded": "社区嵌入式养老服务设施",
        "rural_station": "农村“家门口”养老服务站",
        "institution": "养老机构",
        "home_care": "居家上门服务机构",
    },
    "care_setting": {"home": "居家", "community": "社区", "institution": "机构"},
    "redemption_status": {"posted": "已入账", "completed": "已完成", "voided": "已撤销"},
    "copay_status": {
        "open": "等待支付",
        "pending": "等待支付",
        "succeeded": "已支付",
        "paid": "已支付",
        "refunded": "已退款",
        "cancelled": "已取消",
        "canceled": "已取消",
        "failed": "支付失败",
    },
    "copay_method": {"cash": "现金", "stripe": "在线支付"},
    "claim_status": {
        "pending": "处理中",
        "submitted": "待财务审批",
        "approved": "已审批，待付款",
        "rejected": "已退回",
        "batched": "付款中",
        "paid": "已付款",
        "abandoned": "已作废",
    },
    "batch_status": {
        "pending": "等待银行回单",
        "paid": "已付款",
        "partially_paid": "部分付款",
        "failed": "付款失败",
    },
    "run_status": {
        "running": "正在发放",
        "completed": "已完成",
        "done": "已完成",
        "budget_exhausted": "预算不足，未发完",
        "interrupted": "已中断，可继续",
        "failed": "未完成（预算不足或出错）",
        "stopped": "已停止",
    },
    "bank_change_status": {
        "pending": "等待民政部门审核",
        "approved": "已批准",
        "rejected": "已驳回",
        "superseded": "已被后来的申请替代",
    },
    "account": {
        "treasury_cash": "国库资金",
        "copay_clearing": "自付款待清算",
        "vouchers_outstanding": "流通中补贴券",
        "cash_benefits_committed": "已承诺现金补贴",
        "provider_payable": "应付服务机构款",
        "beneficiary_payable": "应付老人款",
        "budget_available": "可用预算",
        "budget_expended": "已支出预算",
        "subsidy_expense": "补贴支出",
    },
    # The chart of accounts' classes, by the first digit of the account code (docs/ledger.md).
    "account_class": {
        "1": "资产类",
        "2": "负债类",
        "3": "净资产类",
        "4": "收入类",
        "5": "费用类",
    },
    "funding": {
        "central": "中央",
        "regional": "自治区",
        "city": "市级",
        "county": "县级",
        "copay": "老人自付",
    },
    "entry_kind": {
        "appropriation": "预算下达",
        "commitment": "发放补贴券",
        "redemption": "补贴核销",
        "redemption_void": "核销撤销",
        "expense_recognition": "补贴支出确认",
        "expiry": "补贴券过期",
        "cash_benefit": "现金补贴",
        "copay_received": "收到自付款",
        "copay_refunded": "退还自付款",
        "settlement_payment": "结算付款",
        "benefit_payment": "现金补贴发放",
        "redemption_recovery": "违规补贴追回",
        "recovery_receivable": "违规补贴应退回",
        "reversal": "冲正",
    },
    # Service codes the demo and the tests use; a provider's own price list names the rest.
    "service": {
        "MEAL_LUNCH": "午餐",
        "MEAL_DINNER": "晚餐",
        "MEAL_BREAKFAST": "早餐",
        "MEAL_PORRIDGE": "粥",
        "MEAL_DELIVERY": "送餐上门",
        "BATH_HOME": "上门助浴",
        "CLEAN_HOME": "上门保洁",
        "CARE_DAY": "日间照料",
        "CARE_HOME": "居家照护",
        "NURSING_BED": "机构护理床位",
        "REHAB": "康复护理",
    },
    # Reconciliation (services/ledger/settlement/service/discrepancies.py).
    "discrepancy": {
        "MISSING_IN_LEDGER": "核销未入账",
        "REVERSED_IN_LEDGER": "账上已冲正但核销仍有效",
        "VOID_NOT_POSTED": "撤销未入账",
        "AMOUNT_MISMATCH": "金额不一致",
        "CLAIM_MISMATCH": "结算申请与核销不一致",
        "CLAIMED_BUT_VOIDED": "已撤销的核销被申请结算",
        "MISSING_IN_VOUCHER": "账上有、补贴券系统无",
        "UNEXPLAINED_PAYABLE": "来源不明的应付款",
        "PAYMENT_MISMATCH": "付款与结算申请不一致",
        "COPAY_MISMATCH": "自付款与账簿不一致",
        "OUTSTANDING_MISMATCH": "流通中补贴券余额不一致",
        "COPAY_METHOD_UNKNOWN": "自付方式不明",
        "COPAY_CLAIM_MISMATCH": "自付款与结算申请不一致",
    },
    "discrepancy_side": {
        "voucher": "补贴券系统",
        "ledger": "账簿",
        "claims": "结算",
        "stripe": "在线支付",
    },
    "import_status": {"created": "已登记", "duplicate": "已存在", "error": "有错误", "ok": "成功"},
    "credit_kind": {"warning": "警示", "violation": "违规", "sanction": "处罚"},
}


def label(code: Any, kind: str) -> str:
    """The Chinese word for `code` of `kind` (one of LABELS); empty for nothing."""
    if code is None or code == "":
        return ""
    names = LABELS[kind]
    text = str(code)
    if text in names:
        return names[text]
    if kind == "account_class":
        return names.get(text[:1], "其他")
    return f"未知（{text}）"


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A service's timestamp (ISO 8601 or a datetime, usually UTC) as Beijing time."""
    if not value:
        return ""
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value))  # 3.11 reads a trailing Z
        except ValueError:
            return str(value)[:16]
    if when.tzinfo is not None:
        when = when.astimezone(BEIJING)
    return when.strftime(fmt)


def mask_name(name: Any) -> str:
    """A person's name as shown to someone acting for them (王大爷 → 王**): the services'
    own mask (`crypto.mask_name`), so a page and an answer of the API never show one name
    two ways."""
    return crypto.mask_name(str(name or ""))


def region(code: Any) -> str:
    """`南宁市 青秀区` for 450103 (the city before the district, the province left out);
    a code the region tree does not know is shown as it is."""
    text = str(code or "")
    if not text:
        return ""
    if text == "000000":  # a national account's region (web/roles.py)
        return "全国"
    try:
        names = [region_name(c) for c in reversed(ancestors(text)) if not c.endswith("0000")]
        return " ".join(n for n in names if n) or region_name(text) or text
    except (KeyError, ValueError):
        return text


def short_id(value: Any) -> str:
    """The last 8 characters of an id: enough to tell records apart when someone reads one
    out on the phone, without a UUID filling a phone's screen."""
    return str(value or "")[-8:]


def program_name(row: Any, kind: str = "program", names: Any = None) -> str:
    """A voucher's (or run's) programme for people: our own word for the programmes we know
    (short where `kind` is program_short), else the name its officers published -- on the
    row, or in `names` by code (a city's own programme is data, no table here knows it) --
    else the code's label."""
    code = str(row.get("program_code") or "")
    if code in LABELS[kind]:
        return LABELS[kind][code]
    published = row.get("program_name") or (names or {}).get(code)
    return str(published or "") or label(code, kind)


def voucher_word(code: Any, names: Any = None) -> str:
    """What paid, as a cashier says it: 老年助餐补贴券, or the published name; a programme
    this page cannot name (a city's own, its list not readable here) is 补贴券."""
    text = str(code or "")
    name = LABELS["program_short"].get(text) or (names or {}).get(text)
    return f"“{name}”补贴券" if name else "补贴券"


def sale_name(row: Any, names: Any) -> str:
    """What a sale was, by the price list's names (`names`: code -> name): every line of
    its bill, 早餐、午餐×2, so a bill of two items is not read as the first alone."""
    items = row.get("items") or [{"service_code": row.get("service_code"), "quantity": 1}]
    parts = []
    for item in items:
        code = item.get("service_code")
        name = (names or {}).get(code) or label(code, "service")
        quantity = int(item.get("quantity") or 1)
        parts.append(f"{name}×{quantity}" if quantity > 1 else name)
    return "、".join(p for p in parts if p)


def paused_today(voucher: Any, today: date | None = None) -> bool:
    """Whether the voucher cannot pay today because its person is in hospital (its
    `paused_from`..`paused_until`, Beijing days, inclusive; no end = still in hospital)."""
    start, end = voucher.get("paused_from"), voucher.get("paused_until")
    if not start:
        return False
    day = (today or datetime.now(BEIJING).date()).isoformat()
    return bool(str(start)[:10] <= day and (not end or day <= str(end)[:10]))


def cell(value: Any) -> Any:
    """A table's cell on a page: an amount in 元 (a Decimal, as the files hold it) with its
    thousands separated, 1,234.50; anything else as it is."""
    return f"{value:,.2f}" if isinstance(value, Decimal) else value


def install(env: Any) -> None:
    """Register the filters on a Jinja2 environment."""
    env.filters["cell"] = cell
    env.filters["region"] = region
    env.filters["label"] = label
    env.filters["local_time"] = local_time
    env.filters["mask_name"] = mask_name
    env.filters["short_id"] = short_id
    env.filters["program_name"] = program_name
    env.filters["voucher_word"] = voucher_word
    env.tests["paused_today"] = paused_today
    # The region picker's choices (web/region_picker.py), for forms that pick a region.
    from web import region_picker

    env.globals["region_choices"] = region_picker.choices
