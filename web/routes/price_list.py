"""The provider admin's price list on a page: each item's name and price in 元, an item
stopped, a new item (services/provider/service/price_review.py decides what waits).

A list that only lowers prices, renames or stops items is in force at once; one that raises
a price or adds an item waits for the civil-affairs department, and the cashiers keep
charging the approved prices meanwhile. Everything else an item says (its category, unit,
units a bill, a variable price's ceiling, home visits, serving hours) is kept as it is.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from web.clients import ApiError
from web.deps import CsrfSession, PageForbidden, StateDep, provider_client, require_role
from web.render import page
from web.routes.officer_programs import CATEGORIES
from web.sessions import Session

router = APIRouter(prefix="/provider/admin/prices")
ADMIN = require_role(Role.provider_admin)
_YUAN = re.compile(r"^\d{1,7}(\.\d{1,2})?$")
MAX_NAME = 100


def fen_of(text: str) -> int | None:
    """What a person types as 元 (15, 15.5, 15.50; full-width digits and a trailing 元
    allowed) in fen, or None."""
    cleaned = (
        text.strip().translate(str.maketrans("０１２３４５６７８９．", "0123456789.")).rstrip("元")
    )
    if not _YUAN.match(cleaned.strip()):
        return None
    whole, _, cents = cleaned.strip().partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def new_code(category: str, taken: set[str]) -> str:
    """A code for a new item (people never type codes): its category's, numbered."""
    n = 1
    while f"{category.upper()}_{n}" in taken:
        n += 1
    return f"{category.upper()}_{n}"


def build(current: list[dict[str, Any]], form: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The whole list asked for, from the form over the list in force; the problems."""
    problems: list[str] = []
    stopped = set(form.getlist("stop"))
    out = []
    for item in current:
        code = item["code"]
        if code in stopped:
            continue
        name = (form.get(f"name-{code}") or "").strip()
        price = fen_of(form.get(f"price-{code}") or "")
        if not name or len(name) > MAX_NAME:
            problems.append(f"“{item['name']}”的名称请填写（{MAX_NAME} 字以内）。")
        if price is None or price <= 0:
            problems.append(f"“{item['name']}”的价格请填写金额，如 15 或 15.50。")
        out.append({**item, "name": name or item["name"], "price_fen": price or item["price_fen"]})
    new_name = (form.get("new_name") or "").strip()
    if new_name:
        category = form.get("new_category") or ""
        price = fen_of(form.get("new_price") or "")
        unit = (form.get("new_unit") or "次").strip() or "次"
        if category not in CATEGORIES:
            problems.append("新增项目请选择服务类别。")
        if price is None or price <= 0:
            problems.append("新增项目的价格请填写金额，如 15 或 15.50。")
        if len(new_name) > MAX_NAME or len(unit) > 20:
            problems.append("新增项目的名称或单位太长。")
        if not problems:
            code = new_code(category, {i["code"] for i in current})
            out.append(
                {
                    "code": code,
                    "name": new_name,
                    "category": category,
                    "unit": unit,
                    "price_fen": price,
                }
            )
    if not out and not problems:
        problems.append("价目表至少要有一项服务。")
    return out, problems


def _item_body(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the provider service takes it: as it answered it, the fields it left
    empty left to their defaults."""
    return {k: v for k, v in item.items() if v is not None}


async def _page(
    request: Request,
    web: Any,
    session: Session,
    *,
    status_code: int = 200,
    error: str | None = None,
    form: Any = None,
) -> HTMLResponse:
    client = provider_client(web, session)
    try:
        provider = await client.get(session.provider_id or "")
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    items = [
        {
            **item,
            "price_text": (form.get(f"price-{item['code']}") if form else None)
            or yuan_text(item["price_fen"]),
            "name_text": (form.get(f"name-{item['code']}") if form else None) or item["name"],
        }
        for item in provider.get("services") or []
    ]
    return page(
        request,
        "provider_prices.html",
        session,
        status_code=status_code,
        items=items,
        error=error,
        categories=CATEGORIES,
        form=form or {},
        stopped=set(form.getlist("stop")) if form else set(),
    )


@router.get("", response_class=HTMLResponse)
async def prices(request: Request, web: StateDep, session: Session = ADMIN) -> HTMLResponse:
    """The price list as a form: each item's name and price, stop an item, add one."""
    return await _page(request, web, session)


@router.post("", response_class=HTMLResponse)
async def save(request: Request, web: StateDep, session: CsrfSession) -> Response:
    """Send the list: in force at once, or waiting for the officers when it raises prices."""
    if session.role != Role.provider_admin.value:
        raise PageForbidden()
    form = await request.form()
    client = provider_client(web, session)
    try:
        current = (await client.get(session.provider_id or "")).get("services") or []
        services, problems = build(current, form)
        if problems:
            return await _page(
                request, web, session, status_code=422, error="".join(problems), form=form
            )
        in_force = await client.set_price_list(
            session.provider_id or "", [_item_body(s) for s in services]
        )
    except ApiError as exc:
        return await _page(
            request, web, session, status_code=exc.page_status, error=exc.friendly, form=form
        )
    finally:
        await client.aclose()
    session.flash.append(
        (
            "ok",
            "价目表已更新，收款时按新价格计算。"
            if in_force
            else "新价目表涨价或新增了服务项目，已提交民政部门审核；审核通过前仍按原价格收费。",
        )
    )
    return RedirectResponse("/provider/admin", status_code=303)
