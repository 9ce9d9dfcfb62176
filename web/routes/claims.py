"""A settlement claim's detail: its subsidy part, co-payment part and total, the redemptions
and the online co-payment lines (received, refunded) it carries, and its history. The
provider admin reads its own claims, finance and auditors those of their region (the
ledger checks the scope: `GET /v1/claims/{id}`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from web.clients import ApiError
from web.deps import DbSession, StateDep, WebState, ledger_client, require_role
from web.render import page
from web.routes.provider import CLAIM_STATUS
from web.service.accounts import person_names
from web.sessions import Session

router = APIRouter()
ADMIN = require_role(Role.provider_admin)
READERS = require_role(Role.finance, Role.auditor)
_ID = re.compile(r"^[0-9a-fA-F-]{32,36}$")
COPAY_KINDS = {"copay_received": "收到自付款", "copay_refunded": "退还自付款"}
ACTIONS = {
    "prepare": "制单",
    "submit": "提交",
    "approve": "审批通过",
    "reject": "退回",
    "resubmit": "重新提交",
    "edit": "修改",
    "abandon": "作废",
}


async def _detail(
    request: Request, web: WebState, db: AsyncSession, session: Session, claim_id: str, back: str
) -> HTMLResponse:
    if not _ID.match(claim_id):
        return page(request, "error.html", session, status_code=404, message="没有这笔结算申请。")
    client = ledger_client(web, session)
    try:
        claim: dict[str, Any] = await client.claim(claim_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    if (
        session.role == Role.provider_admin.value
        and claim.get("provider_id") != session.provider_id
    ):
        return page(
            request, "error.html", session, status_code=403, message="只能查看本机构的结算申请。"
        )
    history = claim.get("history") or ()
    names = await person_names(db, [claim.get("submitted_by"), *(h.get("actor") for h in history)])
    for h in history:
        h["actor_name"] = names.get(h.get("actor") or "", "")
    return page(
        request,
        "claim_detail.html",
        session,
        claim=claim,
        back=back,
        statuses=CLAIM_STATUS,
        copay_kinds=COPAY_KINDS,
        actions=ACTIONS,
        submitter=names.get(claim.get("submitted_by") or "", ""),
    )


@router.get("/provider/claims/{claim_id}", response_class=HTMLResponse)
async def provider_claim(
    request: Request, claim_id: str, web: StateDep, db: DbSession, session: Session = ADMIN
) -> HTMLResponse:
    """One of the provider's claims: subsidy, co-payment and total, with every line."""
    return await _detail(request, web, db, session, claim_id, "/provider/claims")


@router.get("/finance/claims/{claim_id}", response_class=HTMLResponse)
async def finance_claim(
    request: Request, claim_id: str, web: StateDep, db: DbSession, session: Session = READERS
) -> HTMLResponse:
    """A claim as finance or an auditor checks it before approval or payment."""
    return await _detail(request, web, db, session, claim_id, "/finance/claims")
