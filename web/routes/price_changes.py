"""Price lists that raise what public money pays: a civil-affairs officer of the provider's
region approves or rejects them (services/provider/service/price_review.py holds the rule).

Until the officer approves, bills are priced by the list approved before; the page shows
each raised item beside its price in force, in 元.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from web.clients import ApiError
from web.deps import CsrfSession, DbSession, StateDep, provider_client, require_role
from web.render import page
from web.routes.officer_programs import CATEGORIES
from web.service.accounts import person_names
from web.service.change_decisions import send_decision
from web.sessions import Session

router = APIRouter()
OFFICER = require_role(Role.civil_affairs)
DECISION_MESSAGES = {
    "MAKER_CHECKER_VIOLATION": "提出这项变更的人不能自己审核，请由另一位经办人审核。",
    "OUT_OF_SCOPE": "这家服务机构不在您负责的区域，不能审核它的价格。",
    "ROLE_NOT_ALLOWED": "只有民政经办人可以审核价格变更。",
    "PROVIDER_REVOKED": "这家服务机构已被撤销资格，不能再改价格。",
    "PRICE_CHANGE_NOT_PENDING": "这项价格变更已经处理过了，或机构又提交了更新的价目表。",
}


def raised_items(change: dict[str, Any]) -> list[dict[str, Any]]:
    """Each raised item of a pending change beside the item in force (None: a new item)."""
    now = {item["code"]: item for item in change.get("current") or []}
    raised = set(change.get("raises") or [])
    return [
        {"new": item, "old": now.get(item["code"])}
        for item in change.get("services") or []
        if item["code"] in raised
    ]


@router.get("/officer/price-changes", response_class=HTMLResponse)
async def changes_page(
    request: Request, web: StateDep, db: DbSession, session: Session = OFFICER
) -> HTMLResponse:
    """Price lists waiting for a decision in the officer's region, oldest first: each raised
    item's price now and the price asked for, who asked and when."""
    rows: list[dict[str, Any]] = []
    error = None
    client = provider_client(web, session)
    try:
        rows = await client.pending_price_changes()
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    names = await person_names(db, [row.get("requested_by") for row in rows])
    rows = [
        {
            **row,
            "items": raised_items(row),
            "requester_name": names.get(row.get("requested_by") or "", ""),
        }
        for row in rows
    ]
    return page(
        request,
        "officer_price_changes.html",
        session,
        rows=rows,
        error=error,
        categories=CATEGORIES,
    )


@router.post("/officer/price-changes/{provider_id}/{change_id}/{action}")
async def decide(
    provider_id: str,
    change_id: str,
    action: str,
    web: StateDep,
    session: CsrfSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve (bills are priced by the new list from now on) or reject with a reason."""
    return await send_decision(
        web,
        session,
        back="/officer/price-changes",
        ids=(provider_id, change_id),
        action=action,
        reason=reason,
        decide=lambda client, approve, why: client.decide_price_change(
            provider_id, change_id, approve, why
        ),
        done=("已批准，今后按新价格收费。", "已驳回，机构仍按原价格收费。"),
        unknown="没有这项价格变更。",
        refusals=DECISION_MESSAGES,
    )
