"""Rendering pages: the base context (who is signed in, navigation for their role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from web.charts import fen_to_yuan
from web.labels import BEIJING as BEIJING
from web.labels import LABELS, label
from web.labels import local_time as local_time
from web.roles import ROLE_NAMES, is_national
from web.sessions import Session

NATIONAL = "national"  # the menu key of a national account (not a role of its own)

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
    "provider_staff": [
        ("/provider/redeem", "扫码收款"),
        ("/provider/visits", "上门签到"),
        ("/provider/today", "今日交易"),
    ],
    "provider_admin": [
        ("/provider/admin", "机构管理"),
        ("/provider/application", "资质申请"),
        ("/provider/claims", "申请结算"),
        ("/provider/statement", "对账单"),
        ("/provider/redeem", "扫码收款"),
        ("/provider/visits", "上门签到"),
        ("/provider/today", "今日交易"),
    ],
    "civil_affairs": [
        ("/officer/people", "老人名册"),
        ("/officer/enrol", "老人登记"),
        ("/officer/import", "批量导入"),
        ("/officer/status-import", "死亡住院导入"),
        ("/officer/reassessments", "复评到期"),
        ("/officer/spot-draws", "复评抽查"),
        ("/officer/providers", "机构审批"),
        ("/officer/bank-accounts", "收款账户审核"),
        ("/officer/price-changes", "价格审核"),
        ("/officer/issuance", "发放补贴券"),
        ("/officer/disputes", "争议处理"),
        ("/officer/alerts", "异常预警"),
        ("/officer/anomaly-rules", "预警规则"),
        ("/officer/programs", "补贴项目"),
        ("/dashboard", "统计看板"),
    ],
    "finance": [
        ("/finance", "试算平衡"),
        ("/finance/claims", "结算审批"),
        ("/finance/payments", "付款批次"),
        ("/finance/aging", "账龄"),
        ("/finance/statement", "机构对账单"),
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
        ("/finance/statement", "机构对账单"),
        ("/audit/log", "账号日志"),
        ("/dashboard", "统计看板"),
    ],
    "admin": [("/admin/users", "账号管理"), ("/admin/users/new", "新建账号")],
    # the national accounts (web/roles.py is_national), whatever their role
    NATIONAL: [("/national/dashboard", "全国统计看板")],
}

# A long menu (the officer's fourteen tasks) would fill a phone's first screen with buttons:
# its everyday tasks stay in the row, the rest fold under 更多功能 in named groups (a page
# of the fold is shown in the row too while it is open, so the officer sees where they are).
NAV_GROUPS: dict[str, list[tuple[str, list[str]]]] = {
    "civil_affairs": [
        (
            "老人",
            [
                "/officer/import",
                "/officer/status-import",
                "/officer/reassessments",
                "/officer/spot-draws",
            ],
        ),
        ("机构", ["/officer/providers", "/officer/bank-accounts", "/officer/price-changes"]),
        ("补贴", ["/officer/programs"]),
        ("监管", ["/officer/disputes", "/officer/alerts", "/officer/anomaly-rules"]),
    ],
}


@dataclass(frozen=True)
class Menu:
    """A role's menu as drawn: the links in the row, then the folded groups."""

    row: list[tuple[str, str]]
    groups: list[tuple[str, list[tuple[str, str]]]]


def menu_for(role: str, path: str) -> Menu:
    links = NAV.get(role, [])
    groups = NAV_GROUPS.get(role, [])
    folded = {href for _, hrefs in groups for href in hrefs}
    label_of = dict(links)
    return Menu(
        row=[(h, t) for h, t in links if h not in folded or h == path],
        groups=[
            (title, [(h, label_of[h]) for h in hrefs if h != path])
            for title, hrefs in groups
            if any(h != path for h in hrefs)
        ],
    )


# Kept for the modules that read them by these names; the labels live in web/labels.py.
ACCOUNT_NAMES = LABELS["account"]
PROGRAM_SHORT = LABELS["program_short"]
FUNDING_NAMES = LABELS["funding"]

HOME = {
    "beneficiary": "/me",
    "proxy": "/me",
    "provider_staff": "/provider/redeem",
    "provider_admin": "/provider/admin",
    "civil_affairs": "/officer/enrol",
    "finance": "/finance",
    "auditor": "/audit/entries",
    "admin": "/admin/users",
    NATIONAL: "/national/dashboard",
}


def menu_key(role: str, region: str | None) -> str:
    """The menu and home page an account has: its role's, or the national one's."""
    return NATIONAL if is_national(role, region) else role


def home_of(role: str, region: str | None, default: str = "/") -> str:
    return HOME.get(menu_key(role, region), default)


def role_name_of(role: str, region: str | None) -> str:
    name = ROLE_NAMES.get(role, "")
    return f"全国{name}" if is_national(role, region) else name


ENTRY_KINDS = LABELS["entry_kind"]


def page(
    request: Request, template: str, session: Session | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    web = request.app.state.web
    if session is not None and session.mfa_pending:
        session = None  # the second factor is still to come: nothing of the account shows
    ctx = {
        "request": request,
        "session": session,
        "role_name": role_name_of(session.role, session.region) if session else "",
        # Someone who owes a new password or two-factor enrolment sees only that page.
        "nav": (
            menu_for(menu_key(session.role, session.region), request.url.path)
            if session and not (session.must_change_password or session.needs_totp_enrolment)
            else None
        ),
        "csrf": session.csrf if session else "",
        "flash": session.pop_flash() if session else [],
        "yuan": fen_to_yuan,
        "local_time": local_time,
        "entry_kind": lambda k: label(k, "entry_kind"),
        "account_name": lambda n: label(n, "account"),
        "program_name": lambda n: label(n, "program_short"),
        "funding_name": lambda n: label(n, "funding"),
        "path": request.url.path,
        **context,
    }
    return web.templates.TemplateResponse(request, template, ctx, status_code=status_code)
