"""Civil-affairs officer: the roster of people, a person's page (status timeline, vouchers,
redemptions, proxies, cards), recording a status change, and importing a status file
(docs/lifecycle.md). Every call goes to the voucher service with the officer's own token, so
the service's scope rules decide what they see: someone of another region is "not found"."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from services.common.money import yuan
from services.common.regions import region_name
from web.clients import ApiError
from web.deps import (
    CsrfSession,
    DbSession,
    StateDep,
    provider_client,
    require_role,
    voucher_client,
)
from web.messages import FRIENDLY
from web.render import BEIJING, page
from web.routes.officer import officer_only
from web.routes.officer_cards import PAYOUT_PROBLEMS, RELATIONS
from web.service.accounts import person_names
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
_ID = re.compile(r"^[0-9a-f-]{36}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REGION = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")

STATUS_NAMES = {
    "active": "正常",
    "hospitalised": "住院",
    "suspended": "暂停",
    "moved": "迁出",
    "exited": "退出",
    "deceased": "已去世",
}
CHANGE_NAMES = {
    "active": "恢复正常（含出院）",
    "hospitalised": "住院",
    "suspended": "暂停",
    "moved": "迁居",
    "deceased": "去世",
    "exited": "退出",
}
VOUCHER_STATUS = {
    "active": "可用",
    "exhausted": "已用完",
    "suspended": "已冻结",
    "expired": "已结束",
    "revoked": "已作废",
}
SETTING_NAMES = {"home": "居家", "community": "社区", "institution": "机构"}
CARD_STATUS = {"active": "可用", "locked": "已锁定（密码错误 5 次）", "replaced": "已换新卡"}


def _today() -> str:
    return datetime.now(BEIJING).date().isoformat()


def _helpers() -> dict[str, Any]:
    return {
        "status_name": lambda s: STATUS_NAMES.get(s or "", s or ""),
        "change_name": lambda s: CHANGE_NAMES.get(s or "", s or ""),
        "voucher_status": lambda s: VOUCHER_STATUS.get(s or "", s or ""),
        "setting_name": lambda s: SETTING_NAMES.get(s or "", s or ""),
        "card_status": lambda s: CARD_STATUS.get(s or "", s or ""),
        "region_name": lambda c: region_name(c) if c else "",
        "status_names": STATUS_NAMES,
        "change_names": CHANGE_NAMES,
        "proxy_relations": RELATIONS,
    }


def _roster_params(request: Request) -> dict[str, str]:
    q = request.query_params
    params = {
        "q": (q.get("q") or "").strip()[:40],
        "status": q.get("status") if q.get("status") in STATUS_NAMES else "",
        "grade": q.get("grade") if (q.get("grade") or "") in ("0", "1", "2", "3", "4") else "",
        "reassessment_due": "true" if q.get("reassessment_due") == "true" else "",
        "cursor": (q.get("cursor") or "")[:400],
    }
    return {k: v for k, v in params.items() if v}


@router.get("/people", response_class=HTMLResponse)
async def roster(request: Request, web: StateDep, session: Session = OFFICER) -> HTMLResponse:
    """The roster of the officer's region: search by name or the last 4 digits of the ID or
    phone, filter by status, grade and reassessment due; a page at a time."""
    params = _roster_params(request)
    client = voucher_client(web, session)
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    error = None
    try:
        result = await client.roster({**params, "limit": 20})
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    filters = {k: v for k, v in params.items() if k != "cursor"}
    return page(
        request,
        "officer_people.html",
        session,
        result=result,
        error=error,
        filters=filters,
        **_helpers(),
    )


@router.get("/people/export")
async def roster_export(
    request: Request, web: StateDep, session: Session = OFFICER, format: str = "csv"
) -> Response:
    """The roster (same filters) as CSV or Excel, ID and phone masked."""
    fmt = format if format in ("csv", "xlsx") else "csv"
    params = {k: v for k, v in _roster_params(request).items() if k != "cursor"}
    client = voucher_client(web, session)
    try:
        body = await client.roster_file({**params, "format": fmt})
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="roster.{fmt}"'},
    )


async def _person_page(
    request: Request,
    web: StateDep,
    db: AsyncSession,
    session: Session,
    person_id: str,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    problem: str | None = None,
    payout_problem: str | None = None,
) -> HTMLResponse:
    client = voucher_client(web, session)
    try:
        person = await client.beneficiary(person_id)
        timeline = await client.status_changes(person_id)
        vouchers = await client.vouchers(person_id)
        redemptions = await client.redemptions(person_id)
        proxies = await client.proxies(person_id)
        cards = await client.cards(person_id)
    except ApiError as exc:
        return page(
            request,
            "error.html",
            session,
            status_code=exc.page_status,
            message=FRIENDLY.get(exc.code, "没有找到这位老人。")
            if exc.page_status != 404
            else "没有找到这位老人（或不在您负责的范围内）。",
        )
    finally:
        await client.aclose()
    names = await person_names(db, [c.get("created_by") for c in timeline])
    for c in timeline:
        c["created_by_name"] = names.get(c.get("created_by") or "", "")
    return page(
        request,
        "officer_person.html",
        session,
        status_code=status_code,
        person=person,
        nearest=await _nearest(web, session, person),
        circle_m=CARE_CIRCLE_M,
        timeline=list(reversed(timeline)),
        vouchers=vouchers,
        redemptions=redemptions[:20],
        proxies=proxies,
        cards=cards,
        form=form or {"effective_on": _today()},
        problem=problem,
        payout_problem=payout_problem,
        today=_today(),
        new_key=str(uuid.uuid4()),
        **_helpers(),
    )


# The 15-minute care circle: services within this walk of a person's home (the provider
# service's nearby search uses the same radius by default).
CARE_CIRCLE_M = 1000


async def _nearest(web: Any, session: Session, person: dict[str, Any]) -> dict[str, Any] | None:
    """Where the person lives, as an officer reads it: the nearest approved provider within
    the care circle (its name and the distance), `{}` when there is none, None when the
    person has no position or the directory cannot say."""
    if person.get("lat") is None or person.get("lon") is None:
        return None
    client = provider_client(web, session)
    try:
        found = await client.nearby(float(person["lat"]), float(person["lon"]), CARE_CIRCLE_M)
    except ApiError:
        return None
    finally:
        await client.aclose()
    return found[0] if found else {}  # (the search answers nearest first)


@router.get("/people/{person_id}", response_class=HTMLResponse)
async def person(
    request: Request, person_id: str, web: StateDep, db: DbSession, session: Session = OFFICER
) -> HTMLResponse:
    """A person's page: status and its timeline, vouchers, recent redemptions, proxies, and
    the form to record a status change."""
    if not _ID.match(person_id):
        return page(request, "error.html", session, status_code=404, message="没有找到这位老人。")
    payout = PAYOUT_PROBLEMS.get(request.query_params.get("payout") or "")
    return await _person_page(request, web, db, session, person_id, payout_problem=payout)


@router.post("/people/{person_id}/status", response_class=HTMLResponse)
async def record_status(
    request: Request,
    person_id: str,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    status: Annotated[str, Form()] = "",
    effective_on: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    to_region_code: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    evidence_ref: Annotated[str, Form()] = "",
    request_key: Annotated[str, Form()] = "",
) -> Response:
    """Record a status change; a resubmitted form (Back, reload) records it once."""
    officer_only(session)
    if not _ID.match(person_id):
        return page(request, "error.html", session, status_code=404, message="没有找到这位老人。")
    form = {
        "status": status,
        "effective_on": effective_on.strip(),
        "until": until.strip(),
        "to_region_code": to_region_code.strip(),
        "reason": reason.strip()[:1000],
        "evidence_ref": evidence_ref.strip()[:200],
    }
    problem = None
    if status not in CHANGE_NAMES:
        problem = "请选择要登记的状态。"
    elif not _DATE.match(form["effective_on"]):
        problem = "请填写生效日期，例如 2026-12-01。"
    elif form["until"] and not _DATE.match(form["until"]):
        problem = "出院日期请按 2026-12-01 这样填写。"
    elif form["to_region_code"] and not _REGION.match(form["to_region_code"]):
        problem = "迁入地行政区划代码是 6、9 或 12 位数字。"
    elif not form["reason"]:
        problem = "请填写原因。"
    if problem:
        return await _person_page(
            request, web, db, session, person_id, status_code=422, form=form, problem=problem
        )
    body: dict[str, Any] = {
        "status": status,
        "effective_on": form["effective_on"],
        "reason": form["reason"],
        "evidence_ref": form["evidence_ref"] or None,
    }
    if form["until"] and status == "hospitalised":
        body["until"] = form["until"]
    if form["to_region_code"] and status == "moved":
        body["to_region_code"] = form["to_region_code"]
    key = request_key if re.match(r"^[0-9a-f-]{36}$", request_key) else str(uuid.uuid4())
    client = voucher_client(web, session)
    try:
        done = await client.record_status(person_id, body, f"web-status-{key}")
    except ApiError as exc:
        return await _person_page(
            request,
            web,
            db,
            session,
            person_id,
            status_code=exc.page_status,
            form=form,
            problem=exc.friendly,
        )
    finally:
        await client.aclose()
    message = f"已登记：{CHANGE_NAMES.get(status, status)}。"
    if done.get("released_fen"):
        fen = int(done["released_fen"])
        message += f"补贴券余额 {yuan(fen)} 元已退回预算。"
    if done.get("recoveries"):
        fen = sum(int(r["subsidy_fen"]) for r in done["recoveries"])
        message += (
            f"去世后发生的 {len(done['recoveries'])} 笔核销已追回，补贴 {yuan(fen)} 元退回预算。"
        )
    session.flash.append(("ok", message))
    if done.get("region_code") and status == "moved" and body.get("to_region_code"):
        # The person is now another region's: this officer may no longer see them.
        return RedirectResponse("/officer/people", status_code=303)
    return RedirectResponse(f"/officer/people/{person_id}", status_code=303)
