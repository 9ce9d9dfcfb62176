"""Civil-affairs officer: the programmes of their region — list, create with a preview of
who it covers and what it costs, then publish (POST /v1/programs on the voucher service)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.common.auth import Role
from services.common.regions import region_name
from web.clients import ApiError
from web.deps import CsrfSession, StateDep, require_role, voucher_client
from web.render import page
from web.sessions import Session

router = APIRouter(prefix="/officer/programs")
OFFICER = require_role(Role.civil_affairs)

KINDS = {
    "voucher": "每月补贴券",
    "per_use": "按次补贴",
    "cash_benefit": "现金补贴",
    "one_off": "一次性补贴券",
    "service_package": "上门服务包（按次）",
}
SETTINGS = {"home": "居家", "community": "社区", "institution": "机构"}
CATEGORIES = {
    "meal": "助餐",
    "day_care": "日间照料",
    "rehab_nursing": "康复护理",
    "bathing": "助浴",
    "cleaning": "助洁",
    "escort": "陪护",
    "emergency_call": "紧急呼叫",
    "medical_escort": "陪诊",
    "home_care_hours": "居家照护",
    "institution_stay": "机构入住",
    "respite_stay": "喘息服务",
    "home_adaptation": "适老化改造",
}
_CODE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")
_REGION = re.compile(r"^\d{6}$")
_YUAN = re.compile(r"^\d{1,7}(\.\d{1,2})?$")


def _fen(yuan: str) -> int:
    whole, _, part = yuan.partition(".")
    return int(whole) * 100 + int((part + "00")[:2])


def _describe(p: dict[str, Any]) -> dict[str, Any]:
    config = p["config"]
    faces = {s: r["face_fen"] for s, r in config["settings"].items()}
    return {
        "code": p["code"],
        "name": p["name"],
        "kind": KINDS.get(p["kind"], "其他"),
        "version": p["version"],
        "region": region_name(p["region_code"]) if p.get("region_code") else "全省",
        "faces": [(SETTINGS.get(s, s), f) for s, f in faces.items()],
        "min_age": config["eligibility"]["min_age"],
        "auto": config.get("schedule", {}).get("auto", True),
    }


@router.get("", response_class=HTMLResponse)
async def programs_list(
    request: Request, web: StateDep, session: Session = OFFICER
) -> HTMLResponse:
    """The programmes that apply in the officer's region."""
    client = voucher_client(web, session)
    try:
        rows = [_describe(p) for p in await client.programs()]
        error = None
    except ApiError as exc:
        rows, error = [], exc.friendly
    finally:
        await client.aclose()
    return page(request, "officer_programs.html", session, programs=rows, error=error)


def _form_page(
    request: Request,
    session: Session,
    form: dict[str, Any],
    *,
    problems: dict[str, str] | None = None,
    preview: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "officer_program_new.html",
        session,
        status_code=status_code,
        form=form,
        problems=problems or {},
        preview=preview,
        kinds=KINDS,
        settings=SETTINGS,
        categories=CATEGORIES,
    )


@router.get("/new", response_class=HTMLResponse)
async def program_new(request: Request, session: Session = OFFICER) -> HTMLResponse:
    """The form for a new programme of the officer's region."""
    region = (session.region or "")[:6]
    form = {
        "region_code": region,
        "kind": "voucher",
        "min_age": "60",
        "grades": ["2", "3", "4"],
        "care_settings": ["home"],
        "ratio": "50",
        "categories": ["home_care_hours"],
    }
    return _form_page(request, session, form)


def _config(form: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The form as a programme configuration, or what to correct (field -> words)."""
    problems: dict[str, str] = {}
    if not _CODE.match(form["code"]):
        problems["code"] = "项目代码用小写英文字母、数字和下划线，3 到 40 位，以字母开头。"
    if not 1 <= len(form["name"]) <= 200:
        problems["name"] = "请填写项目名称。"
    if form["kind"] not in ("voucher", "cash_benefit", "one_off", "service_package"):
        problems["kind"] = "请选择补贴类型。"
    if not _REGION.match(form["region_code"]):
        problems["region_code"] = "行政区划代码是 6 位数字。"
    if not form["min_age"].isdigit() or not 0 <= int(form["min_age"]) <= 150:
        problems["min_age"] = "年龄是 0 到 150 的整数。"
    if not form["grades"]:
        problems["grades"] = "请至少选择一个能力等级。"
    if not form["care_settings"]:
        problems["care_settings"] = "请至少选择一种照护方式。"
    if not _YUAN.match(form["face"]) or _fen(form["face"]) <= 0:
        problems["face"] = "请填写每人每月金额（元），例如 300 或 300.50。"
    voucher = form["kind"] in ("voucher", "one_off", "service_package")
    package = form["kind"] == "service_package"
    if package and (not form["visits"].isdigit() or not 1 <= int(form["visits"]) <= 200):
        problems["visits"] = "上门服务包请填写每月上门次数（1 到 200）。"
    if voucher and (not form["ratio"].isdigit() or not 1 <= int(form["ratio"]) <= 100):
        problems["ratio"] = "补贴比例是 1 到 100 的整数（百分比）。"
    if voucher and not form["categories"]:
        problems["categories"] = "请至少选择一类可用服务。"
    rule = None
    if form["rule"].strip():
        try:
            rule = json.loads(form["rule"])
        except ValueError:
            problems["rule"] = "附加条件的格式不对，请检查括号和引号。"
    if problems:
        return None, problems
    setting: dict[str, Any] = {"face_fen": _fen(form["face"])}
    if voucher:
        setting["ratio_bp"] = int(form["ratio"]) * 100
        setting["categories"] = form["categories"]
    eligibility: dict[str, Any] = {
        "min_age": int(form["min_age"]),
        "grades": [int(g) for g in form["grades"]],
        "care_settings": form["care_settings"],
        "dibao_required": bool(form["dibao"]),
    }
    if rule is not None:
        eligibility["rule"] = rule
    config: dict[str, Any] = {
        "name": form["name"],
        "kind": form["kind"],
        "eligibility": eligibility,
        "settings": dict.fromkeys(form["care_settings"], setting),
        "allowed_kinds": [] if form["kind"] == "cash_benefit" else None,
    }
    if config["allowed_kinds"] is None:
        del config["allowed_kinds"]
    if form["kind"] == "one_off":
        config["valid_months"] = 12
    if package:
        config["visits_per_period"] = int(form["visits"])
    return config, {}


@router.post("/new", response_class=HTMLResponse)
async def program_create(
    request: Request,
    web: StateDep,
    session: CsrfSession,
    action: Annotated[str, Form()] = "preview",
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "voucher",
    region_code: Annotated[str, Form()] = "",
    min_age: Annotated[str, Form()] = "",
    grades: Annotated[list[str] | None, Form()] = None,
    care_settings: Annotated[list[str] | None, Form()] = None,
    face: Annotated[str, Form()] = "",
    ratio: Annotated[str, Form()] = "",
    visits: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    dibao: Annotated[str, Form()] = "",
    rule: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Preview (who and how much) or publish a new programme."""
    if session.role != Role.civil_affairs.value:
        from web.deps import PageForbidden

        raise PageForbidden()
    form: dict[str, Any] = {
        "code": code.strip(),
        "name": name.strip(),
        "kind": kind,
        "region_code": region_code.strip(),
        "min_age": min_age.strip(),
        "grades": [g for g in grades or [] if g in "01234" and len(g) == 1],
        "care_settings": [s for s in care_settings or [] if s in SETTINGS],
        "face": face.strip(),
        "ratio": ratio.strip(),
        "visits": visits.strip(),
        "categories": [c for c in categories or [] if c in CATEGORIES],
        "dibao": bool(dibao),
        "rule": rule[:4000],
        "reason": reason.strip()[:2000],
    }
    config, problems = _config(form)
    if action == "publish" and not form["reason"]:
        problems["reason"] = "请填写发布依据（如文件名称）。"
    if config is None or problems:
        return _form_page(request, session, form, problems=problems, status_code=422)
    client = voucher_client(web, session)
    try:
        if action == "publish":
            await client.create_program(
                {
                    "code": form["code"],
                    "region_code": form["region_code"],
                    "config": config,
                    "reason": form["reason"],
                }
            )
        else:
            preview = await client.preview_program(
                {"config": config, "region_code": form["region_code"]}
            )
    except ApiError as exc:
        field = {"PROGRAM_EXISTS": "code", "INVALID_REGION": "region_code"}.get(exc.code, "_")
        if exc.code == "VALIDATION_ERROR" and str(exc.field or "").startswith(
            "config.eligibility.rule"
        ):
            field = "rule"
        words = "附加条件不符合规则，请检查。" if field == "rule" else exc.friendly
        return _form_page(
            request, session, form, problems={field: words}, status_code=exc.page_status
        )
    finally:
        await client.aclose()
    if action == "publish":
        session.flash.append(("ok", f"已发布：{form['name']}"))
        return RedirectResponse("/officer/programs", status_code=303)  # type: ignore[return-value]
    return _form_page(request, session, form, preview=preview)
