"""Receipts and disputes (issue 14, part 2): the printable receipt of a redemption for the
family (with 确认无误 / 有问题申诉, and the appeal) and for the provider, and the officer's
disputes queue with the decision form. The voucher service decides who may see what
(docs/voucher-redemption.md, "Receipts, confirmations and disputes"); these pages show it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from web.clients import ApiError, VoucherClient
from web.deps import (
    CsrfSession,
    DbSession,
    PageForbidden,
    StateDep,
    require_role,
    voucher_client,
)
from web.render import page
from web.service.accounts import person_names
from web.sessions import Session

router = APIRouter()
PERSON = require_role(Role.beneficiary, Role.proxy)
STAFF = require_role(Role.provider_staff, Role.provider_admin)
OFFICER = require_role(Role.civil_affairs)
_ID = re.compile(r"^[0-9a-fA-F-]{36}$")

REVIEW_STATES = {
    "open": "待确认",
    "confirmed": "已确认无误",
    "disputed": "已申诉",
    "closed": "已过确认期限",
}
DISPUTE_STATUS = {
    "open": "待处理",
    "decided": "已答复",
    "appealed": "复核中",
    "closed": "已结案",
}
DECISIONS = {"upheld": "申诉成立", "partly_upheld": "申诉部分成立", "rejected": "申诉不成立"}
DEADLINES = {
    "on_track": "按期处理中",
    "at_risk": "即将到期",
    "overdue": "已逾期",
    "answered": "已答复",
}
HISTORY_KINDS = {
    "confirmed": "确认无误",
    "disputed": "提出申诉",
    "decided": "民政部门答复",
    "appealed": "申请复核",
    "appeal_decided": "复核结论",
}
ACTOR_ROLES = {
    "beneficiary": "老人本人",
    "proxy": "家属/代办人",
    "civil_affairs": "民政经办人",
}
LOCATION_CHECKS = {
    "within_radius": "签到位置在老人住址附近（已核验）",
    "approximate": "老人住址为社区位置，未核验距离",
    "no_location": "老人未登记住址位置，未核验距离",
}
NAMES: dict[str, Any] = {
    "review_states": REVIEW_STATES,
    "dispute_status": DISPUTE_STATUS,
    "decisions": DECISIONS,
    "deadlines": DEADLINES,
    "history_kinds": HISTORY_KINDS,
    "actor_roles": ACTOR_ROLES,
    "location_checks": LOCATION_CHECKS,
}


def _not_found(request: Request, session: Session, message: str = "没有找到这笔交易。") -> Response:
    return page(request, "error.html", session, status_code=404, message=message)


async def _receipt(
    request: Request, web: Any, session: Session, redemption_id: str, template: str
) -> Response:
    if not _ID.match(redemption_id):
        return _not_found(request, session)
    client = voucher_client(web, session)
    try:
        receipt = await client.receipt(redemption_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    return page(request, template, session, r=receipt, **NAMES)


# --- the family -------------------------------------------------------------------------------


@router.get("/me/receipts/{redemption_id}", response_class=HTMLResponse)
async def my_receipt(
    request: Request, redemption_id: str, web: StateDep, session: Session = PERSON
) -> Response:
    """收据: what was sold and paid, with 确认无误 / 有问题申诉 while the window is open, the
    dispute's progress and the appeal."""
    return await _receipt(request, web, session, redemption_id, "me_receipt.html")


async def _send(
    web: Any,
    session: Session,
    back: str,
    done: str,
    call: Callable[[VoucherClient], Awaitable[Any]],
) -> Response:
    """Make one call to the voucher service, tell the person how it went (`done`, or the
    service's refusal in plain Chinese) and go back to `back` (post/redirect/get)."""
    client = voucher_client(web, session)
    try:
        await call(client)
        session.flash.append(("ok", done))
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(back, status_code=303)


def _person_only(session: Session) -> None:
    if session.role not in (Role.beneficiary.value, Role.proxy.value):
        raise PageForbidden()


@router.post("/me/receipts/{redemption_id}/confirm")
async def confirm(
    redemption_id: str,
    web: StateDep,
    session: CsrfSession,
    back: Annotated[str, Form()] = "",
) -> Response:
    """确认无误 (from the receipt, or straight from the history list: back=history)."""
    _person_only(session)
    to_history = back == "history" or not _ID.match(redemption_id)
    back = "/me/history" if to_history else f"/me/receipts/{redemption_id}"
    return await _send(
        web,
        session,
        back,
        "已确认这笔交易无误，谢谢。",
        lambda client: client.confirm(redemption_id),
    )


@router.post("/me/receipts/{redemption_id}/dispute")
async def dispute(
    redemption_id: str,
    web: StateDep,
    session: CsrfSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """有问题申诉: the reason goes to the officers of the person's region."""
    _person_only(session)
    back = f"/me/receipts/{redemption_id}" if _ID.match(redemption_id) else "/me/history"
    if not reason.strip():
        session.flash.append(("err", "请写明哪里不对，例如“没有上门”“只服务了半小时”。"))
        return RedirectResponse(back, status_code=303)
    return await _send(
        web,
        session,
        back,
        "申诉已提交，民政部门会在期限内答复。",
        lambda client: client.dispute(redemption_id, reason.strip()[:500]),
    )


@router.post("/me/disputes/{dispute_id}/appeal")
async def appeal(
    dispute_id: str,
    web: StateDep,
    session: CsrfSession,
    reason: Annotated[str, Form()] = "",
    redemption_id: Annotated[str, Form()] = "",
) -> Response:
    """申请复核 (once) of the officers' answer."""
    _person_only(session)
    back = f"/me/receipts/{redemption_id}" if _ID.match(redemption_id) else "/me/history"
    if not _ID.match(dispute_id):
        session.flash.append(("err", "没有找到这条申诉。"))
        return RedirectResponse(back, status_code=303)
    if not reason.strip():
        session.flash.append(("err", "请写明申请复核的理由。"))
        return RedirectResponse(back, status_code=303)
    return await _send(
        web,
        session,
        back,
        "复核申请已提交。",
        lambda client: client.appeal(dispute_id, reason.strip()[:500]),
    )


# --- the provider ------------------------------------------------------------------------------


@router.get("/provider/receipts/{redemption_id}", response_class=HTMLResponse)
async def provider_receipt(
    request: Request, redemption_id: str, web: StateDep, session: Session = STAFF
) -> Response:
    """The printable receipt of one of this provider's redemptions."""
    return await _receipt(request, web, session, redemption_id, "provider_receipt.html")


# --- the officer -------------------------------------------------------------------------------

_QUEUES = {"pending": "待处理", "decided": "已答复", "closed": "已结案", "all": "全部"}


@router.get("/officer/disputes", response_class=HTMLResponse)
async def disputes(
    request: Request, web: StateDep, session: Session = OFFICER, status: str = "pending"
) -> HTMLResponse:
    """争议处理: the region's disputes, the most urgent deadline first."""
    if status not in _QUEUES:
        status = "pending"
    client = voucher_client(web, session)
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = await client.disputes(status)
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "officer_disputes.html",
        session,
        rows=rows,
        error=error,
        status=status,
        queues=_QUEUES,
        **NAMES,
    )


@router.get("/officer/disputes/{dispute_id}", response_class=HTMLResponse)
async def dispute_detail(
    request: Request, dispute_id: str, web: StateDep, db: DbSession, session: Session = OFFICER
) -> Response:
    """One dispute with the receipt attached, its history (who did each step: the account's
    name, not its login) and the decision form."""
    if not _ID.match(dispute_id):
        return _not_found(request, session, "没有找到这条申诉。")
    client = voucher_client(web, session)
    try:
        d = await client.dispute_detail(dispute_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    history = d["receipt"].get("history") or []
    names = await person_names(db, (h.get("actor") for h in history))
    for h in history:
        if h.get("actor"):
            h["actor"] = names[h["actor"]]
    return page(request, "officer_dispute.html", session, d=d, r=d["receipt"], **NAMES)


@router.post("/officer/disputes/{dispute_id}/decision")
async def decide(
    dispute_id: str,
    web: StateDep,
    session: CsrfSession,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Record the decision (or the appeal's) with its reason."""
    if session.role != Role.civil_affairs.value:
        raise PageForbidden()
    if not _ID.match(dispute_id):
        return RedirectResponse("/officer/disputes", status_code=303)
    back = f"/officer/disputes/{dispute_id}"
    if decision not in DECISIONS:
        session.flash.append(("err", "请选择处理结论。"))
        return RedirectResponse(back, status_code=303)
    if not reason.strip():
        session.flash.append(("err", "请填写处理理由，老人和家属会看到。"))
        return RedirectResponse(back, status_code=303)
    return await _send(
        web,
        session,
        back,
        f"已答复：{DECISIONS[decision]}。"
        + ("这笔补贴已收回，去向见下方收据。" if decision == "upheld" else ""),
        lambda client: client.decide(dispute_id, decision, reason.strip()[:500]),
    )
