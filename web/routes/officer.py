"""Civil-affairs officer: enrol and import beneficiaries, review providers (approve, send back
for changes, refuse; their licence documents), suspend or revoke them, run issuance and watch
it."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from services.common.crypto import mask_national_id
from web import documents, region_picker
from web.clients import ApiError
from web.deps import CsrfSession, StateDep, provider_client, require_role, voucher_client
from web.labels import program_name
from web.messages import FRIENDLY
from web.render import BEIJING, page
from web.service.programs import program_names
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
MAX_UPLOAD = 5 * 1024 * 1024
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_REGION = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")
SCORES = ("self_care", "motor", "mental", "perception_social")


def officer_only(session: Session) -> None:
    from web.deps import PageForbidden

    if session.role != Role.civil_affairs.value:
        raise PageForbidden()


@router.get("/enrol", response_class=HTMLResponse)
async def enrol_form(request: Request, session: Session = OFFICER) -> HTMLResponse:
    """The enrolment form: the region from the region tree, the home's position from this
    device (or the region's centre, approximate)."""
    return _enrol_page(request, session, form={}, problems={})


def _enrol_page(
    request: Request,
    session: Session,
    *,
    form: dict[str, Any],
    problems: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "officer_enrol.html",
        session,
        status_code=status_code,
        form=form,
        problems=problems,
        regions=region_picker.choices(session.region),
    )


def home_location(
    form: dict[str, Any], region_code: str, problems: dict[str, str]
) -> tuple[float | None, float | None, bool]:
    """Where the person lives: this device's position taken at the home during the visit
    (`location_source` = device), else the centre of their region marked approximate (home
    visits then treat it as unknown, services/voucher/service/review_rules.py)."""
    if form.get("location_source") == "device":
        try:
            lat, lon = float(str(form.get("lat"))), float(str(form.get("lon")))
        except ValueError:
            lat = lon = float("nan")
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon, False
        problems["lat"] = "没有取得有效的位置，请再点一次“使用当前位置”。"
        return None, None, False
    centre = region_picker.centre(region_code) if region_code else None
    if centre is None:
        return None, None, True
    return centre[0], centre[1], True


@router.post("/enrol", response_class=HTMLResponse)
async def enrol(request: Request, web: StateDep, session: CsrfSession) -> Response:
    """Send the enrolment to the voucher service; then the person's page says the grade,
    the programmes and where the home is placed."""
    officer_only(session)
    form = dict(await request.form())
    form.pop("csrf_token", None)
    problems: dict[str, str] = {}

    def num(name: str, kind: type = float) -> Any:
        try:
            return kind(str(form.get(name, "")).strip())
        except ValueError:
            problems[name] = "请填写数字。"
            return None

    region_code = str(form.get("region_code", "")).strip()
    lat, lon, approximate = home_location(form, region_code, problems)
    body: dict[str, Any] = {
        "national_id": str(form.get("national_id", "")).strip().upper(),
        "name": str(form.get("name", "")).strip(),
        "phone": str(form.get("phone", "")).strip(),
        "region_code": region_code,
        "address": str(form.get("address", "")).strip(),
        "lat": lat,
        "lon": lon,
        "location_approximate": approximate,
        "care_setting": form.get("care_setting"),
        "dibao": form.get("dibao") == "on",
        "tekun": form.get("tekun") == "on",
        "hukou_region_code": str(form.get("hukou_region_code", "")).strip() or None,
        "assessment": {
            "scores": {s: num(s, int) for s in SCORES},
            "flags": {f: form.get(f) == "on" for f in ("coma", "dementia", "mental_disorder")},
            "assessed_on": str(form.get("assessed_on", "")).strip(),
            "assessor": str(form.get("assessor", "")).strip(),
        },
    }
    for name in ("national_id", "name", "region_code", "address", "assessed_on", "assessor"):
        if not (body.get(name) or body["assessment"].get(name)):
            problems.setdefault(
                name, "请选择所在地区。" if name == "region_code" else "这一项必须填写。"
            )
    if body["region_code"] and not region_picker.is_choice(body["region_code"], session.region):
        problems["region_code"] = "请从列表中选择您负责范围内的区县或街道。"
    if body["hukou_region_code"] and not _REGION.match(body["hukou_region_code"]):
        problems["hukou_region_code"] = "户籍地行政区划代码是 6、9 或 12 位数字。"
    safe_form = {k: v for k, v in form.items() if k not in ("national_id", "phone")}
    if problems:
        return _enrol_page(request, session, status_code=422, form=safe_form, problems=problems)
    client = voucher_client(web, session)
    try:
        result = await client.enrol(body)
    except ApiError as exc:
        problems[enrol_field(exc.field)] = exc.friendly
        return _enrol_page(
            request, session, status_code=exc.page_status, form=safe_form, problems=problems
        )
    finally:
        await client.aclose()
    # post/redirect/get: the person's own page, so a reload or Back never enrols again
    names = await program_names(web, session)
    programs = (
        "、".join(
            program_name({"program_code": p}, "program", names)
            for p in result.get("eligible_programs") or ()
        )
        or "暂无"
    )
    where = "所在地区的中心（近似位置，上门服务不按距离核验）" if approximate else "登记时本机定位"
    session.flash.append(
        (
            "ok",
            f"登记成功：{body['name']}（身份证 {mask_national_id(body['national_id'])}），"
            f"能力等级 {result.get('grade')} 级，可享受：{programs}。住址位置：{where}。",
        )
    )
    return RedirectResponse(f"/officer/people/{result['id']}", status_code=303)


# The form's fields by the service's names of them (`assessment.scores.motor` is `motor`).
ENROL_FIELDS = frozenset(
    {"national_id", "name", "phone", "region_code", "address", "care_setting",
     "hukou_region_code", "assessed_on", "assessor", "lat", *SCORES}
)  # fmt: skip


def enrol_field(field: str | None) -> str:
    """Where on the form a refusal of the voucher service goes: beside its field, or at the
    top (`_`) when the form has no such field."""
    name = (field or "").rsplit(".", 1)[-1]
    return name if name in ENROL_FIELDS else "_"


# The register's views (the statuses an officer filters by), in the order of the review.
PROVIDER_VIEWS = ("applied", "changes_requested", "approved", "suspended", "refused", "revoked")
# Statuses whose licence documents are shown beside the actions (the review is open).
UNDER_REVIEW = ("applied", "changes_requested")
DONE = {
    "approve": "已批准。",
    "request-changes": "已退回补正，机构会看到退回原因。",
    "refuse": "已作出不予批准的决定。",
    "resubmit": "已代为重新提交，等待审批。",
    "suspend": "已暂停。",
    "revoke": "已撤销资格。",
}


def _providers_view(status: str | None) -> str:
    return (
        f"/officer/providers?status={status}"
        if status in (*PROVIDER_VIEWS, "all")
        else "/officer/providers"
    )


@router.get("/providers", response_class=HTMLResponse)
async def providers(
    request: Request, web: StateDep, session: Session = OFFICER, status: str | None = None
) -> HTMLResponse:
    """Providers to review (approve, send back for changes, refuse), suspend or revoke: each
    with only the steps its status allows, and an application's licence documents. Opens on
    the applications waiting (待审批); each view's tab says how many it holds."""
    view = status if status in (*PROVIDER_VIEWS, "all") else "applied"
    client = provider_client(web, session)
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    error = None
    try:
        everyone = await client.listing(None)
        counts.update(str(r.get("status") or "") for r in everyone)
        rows = [r for r in everyone if view == "all" or r.get("status") == view]
        for row in rows:
            if row.get("status") in UNDER_REVIEW:
                row["documents"] = await client.documents(row["id"])
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "officer_providers.html",
        session,
        rows=rows,
        error=error,
        status=view,
        views=PROVIDER_VIEWS,
        counts={**counts, "all": counts.total()},
        kinds=documents.KINDS,
        under_review=UNDER_REVIEW,
    )


@router.post("/providers/{provider_id}/documents", response_class=HTMLResponse)
async def provider_document_upload(
    request: Request,
    provider_id: str,
    web: StateDep,
    session: CsrfSession,
    kind: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Upload a licence document with an application, on the provider's behalf."""
    officer_only(session)
    if not documents.valid_id(provider_id):
        return page(request, "error.html", session, status_code=404, message="没有这家机构。")
    client = provider_client(web, session)
    try:
        refusal = await documents.upload(client, provider_id, kind, file)
    finally:
        await client.aclose()
    session.flash.append(("err", refusal) if refusal else ("ok", "证照已上传。"))
    return RedirectResponse(_providers_view(view), status_code=303)  # type: ignore[return-value]


@router.get("/providers/{provider_id}/documents/{document_id}")
async def provider_document(
    request: Request,
    provider_id: str,
    document_id: str,
    web: StateDep,
    session: Session = OFFICER,
) -> Response:
    """A licence document of a provider in the officer's region (the file, to download)."""
    if not (documents.valid_id(provider_id) and documents.valid_id(document_id)):
        return page(request, "error.html", session, status_code=404, message="没有这份文件。")
    client = provider_client(web, session)
    try:
        return await documents.download(client, provider_id, document_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()


@router.post("/providers/{provider_id}/{action}", response_class=HTMLResponse)
async def provider_action(
    request: Request,
    provider_id: str,
    action: str,
    web: StateDep,
    session: CsrfSession,
    reason: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """One step of the review with its reason: approve, send back for changes, refuse,
    resubmit on the provider's behalf, suspend, revoke (the service refuses a step the
    provider's status does not allow)."""
    officer_only(session)
    if action not in DONE or not documents.valid_id(provider_id):
        return page(request, "error.html", session, status_code=404, message="没有这个操作。")
    if not reason.strip() and action != "resubmit":
        return page(request, "error.html", session, status_code=422, message="请填写原因。")
    client = provider_client(web, session)
    try:
        await client.change_status(provider_id, action, reason.strip()[:500] or None)
        name = ""
        with contextlib.suppress(ApiError):  # (only to name it in the message)
            name = str((await client.get(provider_id)).get("name") or "")
        session.flash.append(("ok", f"{name}：{DONE[action]}" if name else DONE[action]))
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(_providers_view(view), status_code=303)  # type: ignore[return-value]


_PROGRAM_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# The scheduler's issuances: those that need a person are shown loudly.
SCHEDULE_STATUS = {
    "due": "等待自动发放",
    "running": "正在自动发放",
    "completed": "已自动发放",
    "budget_exhausted": "预算不足，部分人员未发放",
    "failed": "自动发放失败",
}


# The issuance page shows the latest few runs (a phone's screen, not a 4,000 px list); the
# page of all runs shows as many as the voucher service lists.
RECENT_SHOWN = 3
ALL_RUNS = 100


def _this_month() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m")


async def _issuance_page(
    request: Request,
    web: Any,
    session: Session,
    *,
    status_code: int = 200,
    error: str | None = None,
    region: str = "",
    template: str = "officer_issuance.html",
    shown: int | None = RECENT_SHOWN,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The issuance page: the form, the region's latest runs with their progress (to come
    back to one; `shown` of them, all of them on `/officer/issuance/runs`), and the
    scheduler's runs (also the latest `shown`; those that need a person always)."""
    client = voucher_client(web, session)
    programs: list[dict[str, Any]] = []
    schedule: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    schedule_error = None
    try:
        try:
            programs = await client.programs()
            schedule = await client.issuance_schedule()
        except ApiError as exc:
            schedule_error = exc.friendly
        with contextlib.suppress(ApiError):  # no recent runs to show if it cannot say
            runs = await client.issuance_runs(
                session.region or "", limit=ALL_RUNS if shown is None else shown + 1
            )
    finally:
        await client.aclose()
    names = {p["code"]: p["name"] for p in programs}
    for row in schedule:
        row["program_name"] = names.get(row["program_code"], "（已停用的项目）")
        row["status_name"] = SCHEDULE_STATUS.get(row["status"], "未知状态")
        row["error_text"] = FRIENDLY.get(row.get("last_error") or "", "系统出错，将自动重试。")
    alarms = [r for r in schedule if r["status"] in ("failed", "budget_exhausted")]
    more = shown is not None and (len(runs) > shown or len(schedule) > shown)
    if shown is not None:
        runs, schedule = runs[:shown], schedule[:shown]
    return page(
        request,
        template,
        session,
        status_code=status_code,
        error=error,
        region=region,
        programs=programs,
        schedule=schedule,
        alarms=alarms,
        schedule_error=schedule_error,
        runs=runs,
        more=more,
        all_runs=shown is None,
        program_names=names,
        # the form as the officer left it (this month by default), the region by name
        form=form or {"period": _this_month()},
        this_month=_this_month(),
        regions=region_picker.choices(session.region, region_picker.ISSUANCE_LEVELS),
    )


@router.get("/issuance", response_class=HTMLResponse)
async def issuance_form(
    request: Request,
    web: StateDep,
    session: Session = OFFICER,
    program_code: str = "",
    period: str = "",
    region_code: str = "",
) -> HTMLResponse:
    """Start an issuance run; see what the scheduler issued and what needs attention. Back
    from the check (返回修改), the form holds what was chosen."""
    form, _ = _issuance_choice(program_code, period, region_code)
    return await _issuance_page(
        request,
        web,
        session,
        region=region_code if _REGION.match(region_code) else session.region or "",
        form=form if program_code else None,
    )


def _issuance_choice(
    program_code: str, period: str, region_code: str
) -> tuple[dict[str, str], str | None]:
    """The form's choice, and what is wrong with it (None: nothing)."""
    form = {"program_code": program_code, "period": period.strip(), "region_code": region_code}
    if not _PROGRAM_CODE.match(program_code):
        return form, "请选择补贴项目。"
    if not _PERIOD.match(period.strip()):
        return form, f"月份请按 年-月 填写，例如 {_this_month()}。"
    if not _REGION.match(region_code):
        return form, "请选择发放的地区。"
    return form, None


async def _form_again(
    request: Request, web: Any, session: Session, form: dict[str, str], status: int, error: str
) -> HTMLResponse:
    """The issuance form again, as the officer left it, with what was wrong."""
    return await _issuance_page(
        request,
        web,
        session,
        status_code=status,
        error=error,
        region=form["region_code"],
        form=form,
    )


@router.get("/issuance/check", response_class=HTMLResponse)
async def issuance_check(
    request: Request,
    web: StateDep,
    session: Session = OFFICER,
    program_code: str = "",
    period: str = "",
    region_code: str = "",
) -> HTMLResponse:
    """Before anything is issued: how many people the run would issue to, what it commits
    of the budget and what the budget holds, who has theirs already and who is skipped for
    a lapsed assessment; 确认发放 starts it, 返回修改 goes back to the form. Nothing is
    written here (a reload or Back is harmless)."""
    officer_only(session)
    form, error = _issuance_choice(program_code, period, region_code)
    if error:
        return await _form_again(request, web, session, form, 422, error)
    client = voucher_client(web, session)
    try:
        found = await client.issuance_preview(program_code, form["period"], region_code)
    except ApiError as exc:
        return await _form_again(request, web, session, form, exc.page_status, exc.friendly)
    finally:
        await client.aclose()
    names = await program_names(web, session)
    return page(
        request,
        "officer_issuance_check.html",
        session,
        form=form,
        preview=found,
        program_name=names.get(program_code, "（未命名的项目）"),
        short=found.get("budget_available_fen") is not None
        and found["budget_available_fen"] < found["to_issue_fen"],
        back="/officer/issuance?" + urlencode(form),
    )


@router.post("/issuance", response_class=HTMLResponse)
async def issuance_start(
    request: Request,
    web: StateDep,
    session: CsrfSession,
    program_code: Annotated[str, Form()] = "",
    period: Annotated[str, Form()] = "",
    region_code: Annotated[str, Form()] = "",
) -> Response:
    """Start (or resume: the run issues nothing twice), then show the run's page."""
    officer_only(session)
    form, error = _issuance_choice(program_code, period, region_code)
    if error:
        return await _form_again(request, web, session, form, 422, error)
    client = voucher_client(web, session)
    try:
        run = await client.start_issuance(program_code, form["period"], region_code)
    except ApiError as exc:
        return await _form_again(request, web, session, form, exc.page_status, exc.friendly)
    finally:
        await client.aclose()
    # post/redirect/get: the run's own page (progress, refreshed while it runs), which the
    # officer can leave and find again under 最近的发放
    session.flash.append(
        (
            "ok",
            f"已发放 {run.get('issued', 0)} 张，跳过 {run.get('skipped', 0)} 张，"
            f"失败 {run.get('failed', 0)} 张。再次发放同一月份不会重复发券。",
        )
    )
    return RedirectResponse(f"/officer/issuance/{run['run_id']}", status_code=303)


_RUN_ID = re.compile(r"^[\w-]{1,80}$")
RUN_STATUS = {
    "running": "正在发放",
    "completed": "已完成",
    "done": "已完成",
    "failed": "未完成（预算不足或出错）",
    "stopped": "已停止",
}


@router.get("/issuance/runs", response_class=HTMLResponse)
async def issuance_runs(
    request: Request, web: StateDep, session: Session = OFFICER
) -> HTMLResponse:
    """All of the region's recent runs and the scheduler's runs (the issuance page shows
    the latest three of each)."""
    return await _issuance_page(request, web, session, template="officer_runs.html", shown=None)


@router.get("/issuance/{run_id}", response_class=HTMLResponse)
async def issuance_run(
    request: Request, run_id: str, web: StateDep, session: Session = OFFICER
) -> HTMLResponse:
    """A run's progress; the page reloads itself every few seconds while it is running."""
    if not _RUN_ID.match(run_id):
        return page(request, "error.html", session, status_code=404, message="没有这个批次。")
    client = voucher_client(web, session)
    run = None
    error = None
    try:
        run = await client.issuance_run(run_id)
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "officer_run.html",
        session,
        run=run,
        error=error,
        status_names=RUN_STATUS,
        running=bool(run and run.get("status") == "running"),
        program_names=await program_names(web, session) if run else {},
    )
