"""Settlement bank account changes: the provider admin asks, a civil-affairs officer of the
provider's region decides (services/provider/service/bank_account.py holds the rule).

A new account never takes effect by itself: the provider keeps being paid to the approved
one until an officer (not the person who asked) approves the change. Account numbers reach
these pages only masked; the number typed in by the admin is sent on and never echoed back.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from web.clients import ApiError
from web.deps import (
    CsrfSession,
    DbSession,
    PageForbidden,
    StateDep,
    WebState,
    provider_client,
    require_role,
)
from web.render import page
from web.routes.provider import admin_page
from web.service.accounts import person_names
from web.service.change_decisions import send_decision
from web.sessions import Session

router = APIRouter()
OFFICER = require_role(Role.civil_affairs)
_ACCOUNT_NUMBER = re.compile(r"^[0-9]{8,30}$")
# The same codes mean something else here than for claims: say it in these words.
DECISION_MESSAGES = {
    "MAKER_CHECKER_VIOLATION": "提出这项变更的人不能自己审核，请由另一位经办人审核。",
    "OUT_OF_SCOPE": "这家服务机构不在您负责的区域，不能审核它的收款账户。",
    "ROLE_NOT_ALLOWED": "只有民政经办人可以审核收款账户变更。",
    "PROVIDER_REVOKED": "这家服务机构已被撤销资格，不能再更换收款账户。",
}


# --- the provider admin asks -----------------------------------------------------------------


def _account_problems(bank_name: str, account_name: str, account_number: str) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not bank_name or len(bank_name) > 200:
        problems["bank_name"] = "请填写开户银行（200 字以内）。"
    if not account_name or len(account_name) > 200:
        problems["account_name"] = "请填写账户名称（200 字以内）。"
    if not _ACCOUNT_NUMBER.match(account_number):
        problems["account_number"] = "银行账号是 8 到 30 位数字，请核对。"
    return problems


@router.post("/provider/admin/bank-account", response_class=HTMLResponse)
async def request_change(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    bank_name: Annotated[str, Form()] = "",
    account_name: Annotated[str, Form()] = "",
    account_number: Annotated[str, Form()] = "",
) -> Response:
    """Ask to be paid to a new bank account. It waits for a civil-affairs officer's
    approval; payments keep going to the approved account until then."""
    if session.role != Role.provider_admin.value:
        raise PageForbidden()
    bank_name, account_name = bank_name.strip(), account_name.strip()
    account_number = re.sub(r"[\s-]", "", account_number)
    problems = _account_problems(bank_name, account_name, account_number)
    form = {"bank_name": bank_name, "account_name": account_name}  # never the number
    if problems:
        return await admin_page(
            request,
            web,
            db,
            session,
            status_code=422,
            error="收款账户没有提交：" + "；".join(problems.values()),
            bank_form=form,
        )
    client = provider_client(web, session)
    try:
        await client.request_bank_change(
            session.provider_id or "",
            {
                "bank_name": bank_name,
                "account_name": account_name,
                "account_number": account_number,
            },
        )
    except ApiError as exc:
        return await admin_page(
            request,
            web,
            db,
            session,
            status_code=exc.page_status,
            error=exc.friendly,
            bank_form=form,
        )
    finally:
        await client.aclose()
    session.flash.append(("ok", "已提交，等待民政部门审核。审核通过前，款项仍付到原账户。"))
    return RedirectResponse("/provider/admin#bank-account", status_code=303)


# --- the officer decides ---------------------------------------------------------------------


async def pending_changes(
    web: WebState, db: AsyncSession, session: Session
) -> list[dict[str, Any]]:
    """The pending changes of the providers in the officer's region, oldest request first,
    each with the provider's name and the account it is paid to now (masked)."""
    client = provider_client(web, session)
    try:
        rows = await client.pending_bank_changes()
    finally:
        await client.aclose()
    names = await person_names(db, [row.get("requested_by") for row in rows])
    return [{**row, "requester_name": names.get(row.get("requested_by") or "", "")} for row in rows]


@router.get("/officer/bank-accounts", response_class=HTMLResponse)
async def changes_page(
    request: Request, web: StateDep, db: DbSession, session: Session = OFFICER
) -> HTMLResponse:
    """Bank account changes waiting for a decision in the officer's region: provider, the
    account it is paid to now and the one asked for (masked), who asked and when."""
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = await pending_changes(web, db, session)
    except ApiError as exc:
        error = exc.friendly
    return page(request, "officer_bank_accounts.html", session, rows=rows, error=error)


@router.post("/officer/bank-accounts/{provider_id}/{change_id}/{action}")
async def decide(
    provider_id: str,
    change_id: str,
    action: str,
    web: StateDep,
    session: CsrfSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve (payments go to the new account from now on) or reject with a reason. The
    provider service refuses the person who asked, another region's officer and a change
    already decided; the page says so in plain words."""
    return await send_decision(
        web,
        session,
        back="/officer/bank-accounts",
        ids=(provider_id, change_id),
        action=action,
        reason=reason,
        decide=lambda client, approve, why: client.decide_bank_change(
            provider_id, change_id, approve, why
        ),
        done=("已批准，今后的结算款付到新账户。", "已驳回，机构仍使用原收款账户。"),
        unknown="没有这条收款账户变更申请。",
        refusals=DECISION_MESSAGES,
    )
