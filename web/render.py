"""Rendering pages: the base context (who is signed in, navigation for their role)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from web.charts import fen_to_yuan
from web.roles import ROLE_NAMES
from web.sessions import Session

NAV: dict[str, list[tuple[str, str]]] = {
    "beneficiary": [
        ("/me", "我的补贴券"),
        ("/me/qr", "出示付款码"),
        ("/me/copay", "待支付"),
        ("/me/history", "使用记录"),
        ("/me/nearby", "附近服务"),
    ],
    "proxy": [
        ("/me", "补贴券"),
        ("/me/qr", "出示付款码"),
        ("/me/copay", "待支付"),
        ("/me/history", "使用记录"),
        ("/me/nearby", "附近服务"),
    ],
    "provider_staff": [("/provider/redeem", "扫码收款"), ("/provider/today", "今日交易")],
    "provider_admin": [
        ("/provider/admin", "机构管理"),
        ("/provider/claims", "申请结算"),
        ("/provider/statement", "对账单"),
        ("/provider/redeem", "扫码收款"),
        ("/provider/today", "今日交易"),
    ],
    "civil_affairs": [
        ("/officer/enrol", "老人登记"),
        ("/officer/import", "批量导入"),
        ("/officer/providers", "机构审批"),
        ("/officer/bank-accounts", "收款账户审核"),
        ("/officer/issuance", "发放补贴券"),
        ("/officer/programs", "补贴项目"),
        ("/dashboard", "统计看板"),
    ],
    "finance": [
        ("/finance", "试算平衡"),
        ("/finance/claims", "结算审批"),
        ("/finance/payments", "付款批次"),
        ("/finance/aging", "账龄"),
        ("/finance/reconciliation", "对账"),
        ("/finance/budget", "预算使用"),
        ("/dashboard", "统计看板"),
    ],
    "auditor": [
        ("/audit/entries", "分录查询"),
        ("/audit/trial-balance", "试算平衡"),
        ("/audit/chain", "防篡改校验"),
        ("/finance/reconciliation", "对账"),
        ("/finance/payments", "付款批次"),
        ("/finance/aging", "账龄"),
        ("/audit/log", "账号日志"),
        ("/dashboard", "统计看板"),
    ],
    "admin": [("/admin/users", "账号管理"), ("/admin/users/new", "新建账号")],
}

# The ledger names its accounts in English snake_case; people read these.
ACCOUNT_NAMES = {
    "treasury_cash": "国库资金",
    "copay_clearing": "自付款待清算",
    "vouchers_outstanding": "流通中补贴券",
    "cash_benefits_committed": "已承诺现金补贴",
    "provider_payable": "应付服务机构款",
    "beneficiary_payable": "应付老人款",
    "budget_available": "可用预算",
    "budget_expended": "已支出预算",
    "subsidy_expense": "补贴支出",
}
PROGRAM_SHORT = {
    "disability_subsidy": "失能补贴",
    "meal_assistance": "老年助餐",
    "nursing_subsidy": "护理补贴",
}
FUNDING_NAMES = {"central": "中央", "regional": "自治区", "city": "市级", "county": "县级"}

HOME = {
    "beneficiary": "/me",
    "proxy": "/me",
    "provider_staff": "/provider/redeem",
    "provider_admin": "/provider/admin",
    "civil_affairs": "/officer/enrol",
    "finance": "/finance",
    "auditor": "/audit/entries",
    "admin": "/admin/users",
}


BEIJING = ZoneInfo("Asia/Shanghai")
ENTRY_KINDS = {
    "appropriation": "预算下达",
    "commitment": "发放补贴券",
    "redemption": "补贴核销",
    "redemption_void": "核销撤销",
    "expiry": "补贴券过期",
    "cash_benefit": "现金补贴",
    "copay_received": "收到自付款",
    "copay_refunded": "退还自付款",
    "settlement_payment": "结算付款",
    "reversal": "冲正",
}


def local_time(value: Any) -> str:
    """A service's timestamp (ISO 8601, usually UTC) as Beijing time, to the minute."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(str(value))  # 3.11 reads a trailing Z
    except ValueError:
        return str(value)[:16]
    if when.tzinfo is not None:
        when = when.astimezone(BEIJING)
    return when.strftime("%Y-%m-%d %H:%M")


def page(
    request: Request, template: str, session: Session | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    web = request.app.state.web
    if session is not None and session.mfa_pending:
        session = None  # the second factor is still to come: nothing of the account shows
    ctx = {
        "request": request,
        "session": session,
        "role_name": ROLE_NAMES.get(session.role, "") if session else "",
        # Someone who owes a new password or two-factor enrolment sees only that page.
        "nav": (
            NAV.get(session.role, [])
            if session and not (session.must_change_password or session.needs_totp_enrolment)
            else []
        ),
        "csrf": session.csrf if session else "",
        "flash": session.pop_flash() if session else [],
        "yuan": fen_to_yuan,
        "local_time": local_time,
        "entry_kind": lambda k: ENTRY_KINDS.get(k or "", k or ""),
        "account_name": lambda n: ACCOUNT_NAMES.get(n or "", n or ""),
        "program_name": lambda n: PROGRAM_SHORT.get(n or "", n or ""),
        "funding_name": lambda n: FUNDING_NAMES.get(n or "", n or ""),
        "path": request.url.path,
        **context,
    }
    return web.templates.TemplateResponse(request, template, ctx, status_code=status_code)
