"""Home visits on the provider's terminal (issue 14, part 3): the care worker checks in at the
elder's home by scanning the elder's live code (the position comes from the device), checks
out with a fresh code, and the cashier bills the completed visit (provider_redeem.html's
visit choice). The voucher service decides; these pages ask it with the terminal's secret."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from web.clients import ApiError
from web.deps import CsrfSession, DbSession, PageForbidden, StateDep, require_role, terminal_client
from web.render import page
from web.sessions import Session

router = APIRouter(prefix="/provider/visits")
STAFF = require_role(Role.provider_staff, Role.provider_admin)
_ID = re.compile(r"^[0-9a-fA-F-]{36}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.~]{8,512}$")
NO_TERMINAL = (
    "本账号没有绑定收款终端，不能做上门签到。请用护理员或收款员的账号签到；"
    "给账号绑定终端，请联系本地区的账号管理员。"
)
LOCATION_CHECKS = {
    "within_radius": "位置已核验（在老人住址附近）",
    "approximate": "老人住址为社区位置，未核验距离",
    "no_location": "老人未登记住址位置，未核验距离",
}


def _staff_only(session: Session) -> None:
    if session.role not in (Role.provider_staff.value, Role.provider_admin.value):
        raise PageForbidden()


def _pin(pin: str) -> str | None:
    """A card's PIN as typed (the service checks and counts it); empty for a phone's code."""
    pin = pin.strip()
    return pin if re.fullmatch(r"[0-9]{6}", pin) else (pin[:6] or None)


def _position(lat: str, lon: str) -> tuple[float, float] | None:
    try:
        la, lo = float(lat), float(lon)
    except ValueError:
        return None
    if not (math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180):
        return None
    return la, lo


@router.get("", response_class=HTMLResponse)
async def visits_page(
    request: Request, web: StateDep, db: DbSession, session: Session = STAFF
) -> HTMLResponse:
    """上门签到: the check-in form, the visits still open (签退), and the completed ones not
    billed yet (收款)."""
    client = await terminal_client(web, db, session)
    open_visits: list[dict[str, Any]] = []
    billable: list[dict[str, Any]] = []
    error = None if client is not None else NO_TERMINAL
    if client is not None:
        try:
            open_visits = await client.visits("open")
            billable = await client.visits("completed", unbilled=True)
        except ApiError as exc:
            error = exc.friendly
        finally:
            await client.aclose()
    return page(
        request,
        "provider_visits.html",
        session,
        error=error,
        has_terminal=client is not None,
        open_visits=open_visits,
        billable=billable,
        location_checks=LOCATION_CHECKS,
    )


async def _scan_back(session: Session, message: str, back: str) -> Response:
    session.flash.append(("err", message))
    return RedirectResponse(back, status_code=303)


@router.post("")
async def check_in(
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    token: Annotated[str, Form()] = "",
    lat: Annotated[str, Form()] = "",
    lon: Annotated[str, Form()] = "",
    care_worker: Annotated[str, Form()] = "",
    pin: Annotated[str, Form()] = "",
) -> Response:
    """Check in: the elder's code (a card with the PIN the elder types) and where this
    device is."""
    _staff_only(session)
    back = "/provider/visits"
    if not _TOKEN.match(token.strip()):
        return await _scan_back(session, "请扫描老人出示的付款码（或老人的卡）。", back)
    where = _position(lat, lon)
    if where is None:
        return await _scan_back(session, "没有取得本机位置，请打开定位后再签到。", back)
    client = await terminal_client(web, db, session)
    if client is None:
        return await _scan_back(session, NO_TERMINAL, back)
    try:
        v = await client.check_in(
            token.strip(), *where, care_worker.strip()[:100] or None, _pin(pin)
        )
        note = LOCATION_CHECKS.get(v.get("location_check", ""), "")
        session.flash.append(("ok", f"已签到。{note}"))
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(back, status_code=303)


@router.get("/{visit_id}/check-out", response_class=HTMLResponse)
async def check_out_form(
    request: Request, visit_id: str, web: StateDep, db: DbSession, session: Session = STAFF
) -> Response:
    """签退: scan a fresh code of the same elder."""
    if not _ID.match(visit_id):
        return page(request, "error.html", session, status_code=404, message="没有这次上门服务。")
    client = await terminal_client(web, db, session)
    if client is None:
        return page(request, "error.html", session, status_code=409, message=NO_TERMINAL)
    try:
        v = await client.visit(visit_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    return page(request, "provider_checkout.html", session, v=v)


@router.post("/{visit_id}/check-out")
async def check_out(
    visit_id: str,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    token: Annotated[str, Form()] = "",
    lat: Annotated[str, Form()] = "",
    lon: Annotated[str, Form()] = "",
    pin: Annotated[str, Form()] = "",
) -> Response:
    """Check out; then the completed visit can be billed."""
    _staff_only(session)
    if not _ID.match(visit_id):
        return RedirectResponse("/provider/visits", status_code=303)
    back = f"/provider/visits/{visit_id}/check-out"
    if not _TOKEN.match(token.strip()):
        return await _scan_back(session, "请扫描老人刚刷新的付款码。", back)
    where = _position(lat, lon)
    if where is None:
        return await _scan_back(session, "没有取得本机位置，请打开定位后再签退。", back)
    client = await terminal_client(web, db, session)
    if client is None:
        return await _scan_back(session, NO_TERMINAL, back)
    try:
        v = await client.check_out(visit_id, token.strip(), *where, _pin(pin))
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
        return RedirectResponse(back, status_code=303)
    finally:
        await client.aclose()
    session.flash.append(("ok", f"已签退，本次上门服务 {v.get('minutes', 0)} 分钟。"))
    return RedirectResponse("/provider/visits", status_code=303)
