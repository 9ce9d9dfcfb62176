"""Civil-affairs officer: a person's profile (phone, address, location, emergency contact,
care setting) and their assessments, the reassessment due list with its exports, and the
quarterly spot reassessment draw (docs/lifecycle.md "Profile and reassessment"). Every call
goes to the voucher service with the officer's own token, so its scope rules decide; every
form posts, then redirects (post/redirect/get), so Back and reload never send it twice.

The profile form is part of the person's page (templates/_person_profile.html, included by
officer_person.html); when the service refuses an edit, the form is shown again on its own
page with what was typed and why."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from services.common.regions import region_name
from web.clients import ApiError
from web.deps import CsrfSession, StateDep, require_role, voucher_client
from web.render import BEIJING, page
from web.routes.officer import officer_only
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
_ID = re.compile(r"^[0-9a-f-]{36}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
SETTING_NAMES = {"home": "居家", "community": "社区", "institution": "机构"}
FIELD_NAMES = {
    "phone": "手机号",
    "address": "住址",
    "location": "位置",
    "location_approximate": "位置是否为社区中心",
    "contact": "紧急联系人",
    "care_setting": "照护方式",
}
SCORE_FIELDS = (
    ("self_care", "自理能力", 32),
    ("motor", "基础运动能力", 15),
    ("mental", "精神状态", 28),
    ("perception_social", "感知觉与社会参与", 15),
)
DUE_WINDOWS = ("30", "60", "90")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _today() -> str:
    return datetime.now(BEIJING).date().isoformat()


def _helpers() -> dict[str, Any]:
    return {
        "setting_names": SETTING_NAMES,
        "setting_name": lambda s: SETTING_NAMES.get(s or "", s or ""),
        "field_names": lambda fs: "、".join(FIELD_NAMES.get(f, f) for f in fs or ()),
        "region_name": lambda c: region_name(c) if c else "",
        "score_fields": SCORE_FIELDS,
    }


def _not_found(request: Request, session: Session, message: str = "没有找到这位老人。") -> Response:
    return page(request, "error.html", session, status_code=404, message=message)


def _error_page(request: Request, session: Session, exc: ApiError) -> Response:
    message = exc.friendly
    if exc.page_status == 404:
        message = "没有找到（或不在您负责的范围内）。"
    return page(request, "error.html", session, status_code=exc.page_status, message=message)


def _file(body: bytes, fmt: str, name: str) -> Response:
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


# --- the profile ---------------------------------------------------------------------------


def _profile_body(form: dict[str, str], person: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The PATCH body of what the officer changed, or the reason it cannot be sent. An empty
    phone box keeps the phone (it is shown masked, never filled in); a box ticked clears."""
    body: dict[str, Any] = {}
    if form["phone"]:
        body["phone"] = form["phone"]
    elif form["clear_phone"]:
        body["phone"] = None
    if form["address"] and form["address"] != person.get("address"):
        body["address"] = form["address"]
    if form["lat"] or form["lon"]:
        try:
            lat, lon = float(form["lat"]), float(form["lon"])
        except ValueError:
            return {}, "位置请填写纬度和经度两个数字（可点“用本机定位”）。"
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return {}, "纬度在 -90 到 90 之间，经度在 -180 到 180 之间。"
        if (lat, lon) != (person.get("lat"), person.get("lon")):
            body["lat"], body["lon"] = lat, lon
    approximate = bool(form["location_approximate"])
    if approximate != bool(person.get("location_approximate")):
        body["location_approximate"] = approximate
    if form["contact_name"] or form["contact_phone"] or form["contact_relation"]:
        if not (form["contact_name"] and form["contact_phone"] and form["contact_relation"]):
            return {}, "紧急联系人请填写姓名、关系和电话三项。"
        body["contact"] = {
            "name": form["contact_name"],
            "relation": form["contact_relation"],
            "phone": form["contact_phone"],
        }
    elif form["clear_contact"]:
        body["contact"] = None
    if form["care_setting"] in SETTING_NAMES and form["care_setting"] != person.get("care_setting"):
        body["care_setting"] = form["care_setting"]
    if form["reason"]:
        body["reason"] = form["reason"]
    return body, ""


@router.post("/people/{person_id}/profile", response_class=HTMLResponse)
async def save_profile(
    request: Request,
    person_id: str,
    web: StateDep,
    session: CsrfSession,
    phone: Annotated[str, Form()] = "",
    clear_phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    lat: Annotated[str, Form()] = "",
    lon: Annotated[str, Form()] = "",
    location_approximate: Annotated[str, Form()] = "",
    contact_name: Annotated[str, Form()] = "",
    contact_relation: Annotated[str, Form()] = "",
    contact_phone: Annotated[str, Form()] = "",
    clear_contact: Annotated[str, Form()] = "",
    care_setting: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Save the person's profile; answered with their page again (post/redirect/get)."""
    officer_only(session)
    if not _ID.match(person_id):
        return _not_found(request, session)
    form = {
        "phone": phone.strip()[:40],
        "clear_phone": clear_phone,
        "address": address.strip()[:500],
        "lat": lat.strip()[:20],
        "lon": lon.strip()[:20],
        "location_approximate": location_approximate,
        "contact_name": contact_name.strip()[:100],
        "contact_relation": contact_relation.strip()[:50],
        "contact_phone": contact_phone.strip()[:40],
        "clear_contact": clear_contact,
        "care_setting": care_setting,
        "reason": reason.strip()[:1000],
    }
    client = voucher_client(web, session)
    try:
        person = await client.beneficiary(person_id)
        body, problem = _profile_body(form, person)
        if not problem and not body:
            session.flash.append(("ok", "档案没有变化。"))
            return RedirectResponse(f"/officer/people/{person_id}#profile", status_code=303)
        if not problem:
            try:
                await client.update_profile(person_id, body)
            except ApiError as exc:
                if exc.page_status == 404:
                    raise
                problem = exc.friendly
        if problem:
            return page(
                request,
                "officer_profile.html",
                session,
                status_code=422,
                person=person,
                profile_form=form,
                profile_problem=problem,
                today=_today(),
                **_helpers(),
            )
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    changed = [k for k in FIELD_NAMES if k in body or (k == "location" and "lat" in body)]
    session.flash.append(("ok", f"档案已保存：{_helpers()['field_names'](changed)}。"))
    return RedirectResponse(f"/officer/people/{person_id}#profile", status_code=303)


# --- assessments ---------------------------------------------------------------------------


async def _assessment_page(
    request: Request,
    web: StateDep,
    session: Session,
    person_id: str,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    problem: str | None = None,
) -> Response:
    client = voucher_client(web, session)
    try:
        person = await client.beneficiary(person_id)
        history = await client.assessments(person_id)
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    return page(
        request,
        "officer_assessment.html",
        session,
        status_code=status_code,
        person=person,
        history=history,
        form=form or {"assessed_on": _today()},
        problem=problem,
        today=_today(),
        **_helpers(),
    )


@router.get("/people/{person_id}/assessment", response_class=HTMLResponse)
async def assessment_form(
    request: Request, person_id: str, web: StateDep, session: Session = OFFICER
) -> Response:
    """Record a new assessment of the person (GB/T 42195-2022 scores), and their history."""
    if not _ID.match(person_id):
        return _not_found(request, session)
    return await _assessment_page(request, web, session, person_id)


@router.post("/people/{person_id}/assessment", response_class=HTMLResponse)
async def record_assessment(
    request: Request,
    person_id: str,
    web: StateDep,
    session: CsrfSession,
    self_care: Annotated[str, Form()] = "",
    motor: Annotated[str, Form()] = "",
    mental: Annotated[str, Form()] = "",
    perception_social: Annotated[str, Form()] = "",
    assessed_on: Annotated[str, Form()] = "",
    assessor: Annotated[str, Form()] = "",
    dementia: Annotated[str, Form()] = "",
    mental_disorder: Annotated[str, Form()] = "",
    coma: Annotated[str, Form()] = "",
    care_risk_events: Annotated[str, Form()] = "",
) -> Response:
    """Record the assessment; its grade counts from next month (this month's vouchers stay)."""
    officer_only(session)
    if not _ID.match(person_id):
        return _not_found(request, session)
    form = {
        "self_care": self_care.strip(),
        "motor": motor.strip(),
        "mental": mental.strip(),
        "perception_social": perception_social.strip(),
        "assessed_on": assessed_on.strip(),
        "assessor": assessor.strip()[:200],
        "dementia": dementia,
        "mental_disorder": mental_disorder,
        "coma": coma,
        "care_risk_events": care_risk_events.strip() or "0",
    }
    problem = None
    scores: dict[str, int] = {}
    for name, label, top in SCORE_FIELDS:
        value = form[name]
        if not value.isdigit() or not 0 <= int(value) <= top:
            problem = f"{label}的分数是 0 到 {top} 的整数。"
            break
        scores[name] = int(value)
    if problem is None and not _DATE.match(form["assessed_on"]):
        problem = "请填写评估日期，例如 2026-12-01。"
    elif problem is None and not form["assessor"]:
        problem = "请填写评估机构或评估员。"
    elif problem is None and not form["care_risk_events"].isdigit():
        problem = "近 30 天照护风险事件次数请填整数。"
    if problem:
        return await _assessment_page(
            request, web, session, person_id, status_code=422, form=form, problem=problem
        )
    body = {
        "scores": scores,
        "flags": {
            "dementia": bool(dementia),
            "mental_disorder": bool(mental_disorder),
            "coma": bool(coma),
            "care_risk_events": min(int(form["care_risk_events"]), 1000),
        },
        "assessed_on": form["assessed_on"],
        "assessor": form["assessor"],
    }
    client = voucher_client(web, session)
    try:
        done = await client.record_assessment(person_id, body)
    except ApiError as exc:
        if exc.page_status == 404:
            return _error_page(request, session, exc)
        return await _assessment_page(
            request,
            web,
            session,
            person_id,
            status_code=exc.page_status,
            form=form,
            problem=exc.friendly,
        )
    finally:
        await client.aclose()
    message = f"评估已记录：总分 {done['total']}，{done['grade']} 级。"
    if done.get("effective_from"):
        message += f"新等级自 {done['effective_from'][:7].replace('-', ' 年 ')} 月起用于发放，本月补贴券不变。"
    session.flash.append(("ok", message))
    return RedirectResponse(f"/officer/people/{person_id}", status_code=303)


# --- the due list --------------------------------------------------------------------------


def _due_params(request: Request) -> dict[str, str]:
    q = request.query_params
    days = q.get("within_days") or "60"
    return {
        "within_days": days if days in DUE_WINDOWS else "60",
        **({"cursor": q["cursor"][:400]} if q.get("cursor") else {}),
    }


@router.get("/reassessments", response_class=HTMLResponse)
async def due_list(request: Request, web: StateDep, session: Session = OFFICER) -> Response:
    """Who needs a reassessment in the next 30/60/90 days, and whose assessment has lapsed
    (issuance skips them until they are reassessed)."""
    params = _due_params(request)
    client = voucher_client(web, session)
    try:
        result = await client.reassessments_due({**params, "limit": 50})
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    return page(
        request,
        "officer_reassessments.html",
        session,
        result=result,
        within_days=params["within_days"],
        windows=DUE_WINDOWS,
        **_helpers(),
    )


@router.get("/reassessments/export")
async def due_export(
    request: Request, web: StateDep, session: Session = OFFICER, format: str = "csv"
) -> Response:
    """The due list as CSV or Excel (national ID masked)."""
    fmt = format if format in MEDIA else "csv"
    params = {"within_days": _due_params(request)["within_days"], "format": fmt}
    client = voucher_client(web, session)
    try:
        body = await client.reassessments_due_file(params)
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    return _file(body, fmt, "reassessment-due")


# --- spot draws ----------------------------------------------------------------------------


@router.get("/spot-draws", response_class=HTMLResponse)
async def spot_draws(request: Request, web: StateDep, session: Session = OFFICER) -> Response:
    """The quarterly spot reassessment draws of the officer's region, and running this
    quarter's."""
    client = voucher_client(web, session)
    try:
        draws = await client.spot_draws()
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    return page(request, "officer_spot_draws.html", session, draws=draws, **_helpers())


@router.post("/spot-draws", response_class=HTMLResponse)
async def run_spot_draw(
    request: Request,
    web: StateDep,
    session: CsrfSession,
    quarter: Annotated[str, Form()] = "",
) -> Response:
    """Draw this quarter's people (once: a quarter drawn before shows that draw)."""
    officer_only(session)
    body: dict[str, Any] = {}
    if _QUARTER.match(quarter.strip()):
        body["quarter"] = quarter.strip()
    client = voucher_client(web, session)
    try:
        draw = await client.run_spot_draw(body)
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
        return RedirectResponse("/officer/spot-draws", status_code=303)
    finally:
        await client.aclose()
    if draw.get("recorded"):
        session.flash.append(("ok", f"{draw['quarter']} 已经抽过，这是当时的抽查名单。"))
    else:
        session.flash.append(("ok", f"已抽取 {draw['drawn']} 人（共 {draw['population']} 人）。"))
    return RedirectResponse(f"/officer/spot-draws/{draw['id']}", status_code=303)


@router.get("/spot-draws/{draw_id}", response_class=HTMLResponse)
async def spot_draw(
    request: Request, draw_id: str, web: StateDep, session: Session = OFFICER
) -> Response:
    """A draw: who ran it and when, its seed, and the people drawn (with their reassessment
    since the draw)."""
    if not _ID.match(draw_id):
        return _not_found(request, session, "没有找到这次复评抽查。")
    client = voucher_client(web, session)
    try:
        draw = await client.spot_draw(draw_id)
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    return page(request, "officer_spot_draw.html", session, draw=draw, **_helpers())


@router.get("/spot-draws/{draw_id}/export")
async def spot_draw_export(
    request: Request, draw_id: str, web: StateDep, session: Session = OFFICER, format: str = "csv"
) -> Response:
    """A draw's people as CSV or Excel (national ID masked)."""
    if not _ID.match(draw_id):
        return _not_found(request, session, "没有找到这次复评抽查。")
    fmt = format if format in MEDIA else "csv"
    client = voucher_client(web, session)
    try:
        body = await client.spot_draw_file(draw_id, fmt)
    except ApiError as exc:
        return _error_page(request, session, exc)
    finally:
        await client.aclose()
    return _file(body, fmt, "spot-draw")
