"""Pages for the elderly person and their family (proxy): vouchers, the QR code, history,
and paying a co-payment online."""

from __future__ import annotations

import base64
import contextlib
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.common.auth import Role
from services.common.regions import region_name
from web.clients import ApiError
from web.deps import CsrfSession, StateDep, provider_client, require_role, voucher_client
from web.labels import mask_name, sale_name
from web.render import page
from web.sessions import Session

router = APIRouter(prefix="/me")
PERSON = require_role(Role.beneficiary, Role.proxy)


def _acting_for(session: Session) -> str:
    who = session.acting_for or (session.beneficiary_ids[0] if session.beneficiary_ids else "")
    return who


async def _people(web: Any, session: Session) -> dict[str, str]:
    """Who a proxy acts for, as the switcher and the "whose vouchers" line show them: the
    name masked, the sex, the year of birth and the district (王**，男，1941 年生，青秀区),
    enough to tell one's parents apart without an id; two alike still are told apart by
    the end of their ids."""
    names = {b: f"第 {i} 位老人" for i, b in enumerate(session.beneficiary_ids, 1)}
    if session.role != Role.proxy.value:
        return names
    client = voucher_client(web, session)
    try:
        for b in session.beneficiary_ids:
            with contextlib.suppress(ApiError):
                names[b] = describe_person(await client.beneficiary(b)) or names[b]
    finally:
        await client.aclose()
    seen = Counter(names.values())
    return {b: f"{n}（编号尾号 {b[-4:]}）" if seen[n] > 1 else n for b, n in names.items()}


def describe_person(person: dict[str, Any]) -> str:
    """王**，男，1941 年生，青秀区: a person as a family member tells them apart."""
    if not person.get("name"):
        return ""
    parts = [mask_name(person["name"])]
    parts.append({"M": "男", "F": "女"}.get(str(person.get("sex") or ""), ""))
    if person.get("birth_on"):
        parts.append(f"{str(person['birth_on'])[:4]} 年生")
    district = str(person.get("region_code") or "")[:6]
    name = region_name(district) if district else ""
    parts.append(name if name != district else "")
    return "，".join(p for p in parts if p)


async def _person_context(web: Any, session: Session) -> dict[str, Any]:
    """What every page of the elder and the family shows: for a proxy, whose vouchers
    these are (`whose`, masked) and the people to switch between."""
    people = await _people(web, session)
    acting_for = _acting_for(session)
    whose = people.get(acting_for, "") if session.role == Role.proxy.value else ""
    return {"people": people, "acting_for": acting_for, "whose": whose}


@router.get("", response_class=HTMLResponse)
async def home(request: Request, web: StateDep, session: Session = PERSON) -> HTMLResponse:
    """Vouchers of the person being served, with balance and validity; co-payments still
    to pay online said first, with their total and the way to pay them."""
    client = voucher_client(web, session)
    error = None
    vouchers: list[dict[str, Any]] = []
    due: list[dict[str, Any]] = []
    try:
        vouchers = await client.vouchers(_acting_for(session))
        with contextlib.suppress(ApiError):  # (the vouchers show even if this cannot)
            due = await client.copayments_due(_acting_for(session))
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "me_home.html",
        session,
        vouchers=vouchers,
        error=error,
        due_count=len(due),
        due_fen=sum(int(c.get("amount_fen") or 0) for c in due),
        **await _person_context(web, session),
    )


@router.post("/act-for")
async def act_for(session: CsrfSession, beneficiary_id: Annotated[str, Form()] = "") -> Response:
    """A proxy switches to another person they may act for (only those in their token)."""
    if beneficiary_id not in session.beneficiary_ids:
        return RedirectResponse("/me?err=scope", status_code=303)
    session.acting_for = beneficiary_id
    session.flash.append(("ok", "已切换服务对象。"))
    return RedirectResponse("/me", status_code=303)


@router.get("/qr", response_class=HTMLResponse)
async def qr_page(
    request: Request, web: StateDep, session: Session = PERSON, paid: str = ""
) -> HTMLResponse:
    """The payment code page: the balance above the code, the code as large as the screen
    allows, a countdown to when the script fetches a fresh one. The script watches for a
    payment made with the person's code (`/me/qr/paid`) and opens the page again with
    `paid`: the sale said on top (what, subsidy, co-payment), the balances as they are now."""
    client = voucher_client(web, session)
    vouchers: list[dict[str, Any]] = []
    sale: dict[str, Any] | None = None
    with contextlib.suppress(ApiError):
        try:
            vouchers = await client.vouchers(_acting_for(session))
            if _PAID.match(paid):
                recent = await client.redemptions(_acting_for(session), limit=5)
                sale = next((r for r in recent if str(r.get("id")) == paid), None)
        finally:
            await client.aclose()
    if sale is not None:
        await _name_providers(web, session, [sale])
    usable = [v for v in vouchers if v.get("status") == "active"]
    return page(
        request,
        "me_qr.html",
        session,
        margin_s=web.settings.qr_refresh_margin_s,
        vouchers=usable,
        nav_below=True,
        sale=sale,
        since=datetime.now(UTC).isoformat(),
        **await _person_context(web, session),
    )


_PAID = re.compile(r"^[0-9a-f-]{36}$")


@router.get("/qr/paid")
async def qr_paid(web: StateDep, session: Session = PERSON, since: str = "") -> JSONResponse:
    """(The code page's script, every few seconds.) The person's newest redemption if it was
    made after `since` (the page's own time): {"paid": id}, else {"paid": null}."""
    try:
        after = datetime.fromisoformat(since)
    except ValueError:
        return JSONResponse({"paid": None}, headers={"Cache-Control": "no-store"})
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    client = voucher_client(web, session)
    newest: list[dict[str, Any]] = []
    with contextlib.suppress(ApiError):
        try:
            newest = await client.redemptions(_acting_for(session), limit=1)
        finally:
            await client.aclose()
    paid = None
    if newest and newest[0].get("status") == "completed":
        made = datetime.fromisoformat(str(newest[0].get("created_at")).replace("Z", "+00:00"))
        if made > after:
            paid = str(newest[0].get("id"))
    return JSONResponse({"paid": paid}, headers={"Cache-Control": "no-store"})


@router.post("/qr/code")
async def new_code(web: StateDep, session: CsrfSession) -> JSONResponse:
    """A new one-time code for the person being served (called by the page's script).

    The picture comes back inline (a data: URL), so the token never appears in a URL the
    browser requests and so never in an access log on the way."""
    if session.role not in (Role.beneficiary.value, Role.proxy.value):
        return JSONResponse(
            {"error": {"code": "ROLE_NOT_ALLOWED", "message": "您的账号没有这项权限。"}},
            status_code=403,
        )
    client = voucher_client(web, session)
    try:
        code = await client.new_code(_acting_for(session))
        svg = await client.code_svg(code["token"])
    except ApiError as exc:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.friendly}}, status_code=exc.page_status
        )
    finally:
        await client.aclose()
    expires = datetime.fromisoformat(str(code["expires_at"]))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    seconds = max(0, int((expires - datetime.now(UTC)).total_seconds()))
    image = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    digits = str(code.get("short_code") or "")
    short = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return JSONResponse(
        {
            "image": image,
            "expires_in_s": seconds,
            "expires_at": expires.isoformat(),
            "short_code": short,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/history", response_class=HTMLResponse)
async def history(request: Request, web: StateDep, session: Session = PERSON) -> HTMLResponse:
    """Redemptions of the person being served: where, what, subsidy and co-payment."""
    rows, error = await _rows_with_providers(web, session, "redemptions")
    return page(
        request,
        "me_history.html",
        session,
        rows=rows,
        error=error,
        **await _person_context(web, session),
    )


async def _rows_with_providers(
    web: Any, session: Session, listing: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The voucher client's `listing` for the person being served, each row with its
    provider's name; a refusal becomes the page's friendly error and no rows."""
    client = voucher_client(web, session)
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = await getattr(client, listing)(_acting_for(session))
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    await _name_providers(web, session, rows)
    return rows, error


async def _name_providers(web: Any, session: Session, rows: list[dict[str, Any]]) -> None:
    """Put the provider's and the service's names on each row (the voucher service keeps
    ids and codes); a provider that cannot be read keeps its id."""
    providers: dict[str, dict[str, Any] | None] = {}
    client = provider_client(web, session)
    try:
        for pid in {str(r.get("provider_id")) for r in rows if r.get("provider_id")}:
            try:
                providers[pid] = await client.get(pid)
            except ApiError:
                providers[pid] = None
    finally:
        await client.aclose()
    for r in rows:
        provider = providers.get(str(r.get("provider_id")))
        if provider is None:
            continue
        r.setdefault("provider_name", provider.get("name"))
        names = {s.get("code"): s.get("name") for s in provider.get("services") or ()}
        r.setdefault("service_name", sale_name(r, names))


NEARBY_RADIUS_M = 3000  # about a 15-minute walk each way, a little more in the country


def distance_text(metres: int) -> str:
    """约 870 米 / 约 1.2 公里: how far, as people say it."""
    if metres < 1000:
        return f"约 {max(10, round(metres, -1))} 米"
    return f"约 {metres / 1000:.1f} 公里"


def nearby_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The providers nearest first, each with its distance in words and its price list
    split into meals (with serving hours, earliest first) and other services."""
    out = []
    for p in sorted(rows, key=lambda r: (int(r.get("distance_m") or 0), str(r.get("id")))):
        services = list(p.get("services") or ())
        meals = sorted(
            (s for s in services if s.get("category") == "meal"),
            key=lambda s: (s.get("serves_from") or "99:99", str(s.get("code"))),
        )
        others = [s for s in services if s.get("category") != "meal"]
        out.append(
            {
                **p,
                "distance_text": distance_text(int(p.get("distance_m") or 0)),
                "meals": meals,
                "others": others,
            }
        )
    return out


@router.get("/nearby", response_class=HTMLResponse)
async def nearby(
    request: Request,
    web: StateDep,
    session: Session = PERSON,
    lat: float | None = None,
    lon: float | None = None,
) -> HTMLResponse:
    """Approved providers near the person, nearest first, with the distance and their
    meals' serving hours and prices. Around the person's registered location by default
    (said to be approximate when it is a community's centre); around where the phone is
    when the person presses 用我现在的位置 (the page's script sends the browser's position
    as `lat`/`lon`; nobody types coordinates)."""
    rows: list[dict[str, Any]] = []
    error = None
    source = "device"
    approximate = False
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        source, lat, lon = "home", None, None
        client = voucher_client(web, session)
        try:
            home = await client.beneficiary(_acting_for(session))
            lat, lon = home.get("lat"), home.get("lon")
            approximate = bool(home.get("location_approximate"))
        except ApiError:
            pass
        finally:
            await client.aclose()
        if lat is None or lon is None:
            source = "none"
    if lat is not None and lon is not None:
        providers = provider_client(web, session)
        try:
            rows = nearby_rows(await providers.nearby(lat, lon, radius_m=NEARBY_RADIUS_M))
        except ApiError as exc:
            error = exc.friendly
        finally:
            await providers.aclose()
    return page(
        request,
        "me_nearby.html",
        session,
        rows=rows,
        error=error,
        source=source,
        approximate=approximate,
        radius_text=distance_text(NEARBY_RADIUS_M).removeprefix("约 "),
        **await _person_context(web, session),
    )


# --- co-payments paid online (services/voucher/api/copay.py; docs/copayments.md) -----------

_COPAY_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


def _pay_csp(web: Any) -> str:
    """The page's Content-Security-Policy: ours, plus Stripe.js where settings say it is
    (localstripe in development; js.stripe.com, its frames and api.stripe.com otherwise)."""
    parts = urlsplit(web.settings.stripe_js)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        f"script-src 'self' {origin}; connect-src 'self' {origin} https://api.stripe.com; "
        f"frame-src {origin} https://js.stripe.com https://hooks.stripe.com; "
        "frame-ancestors 'none'"
    )


@router.get("/copay", response_class=HTMLResponse)
async def copay_list(request: Request, web: StateDep, session: Session = PERSON) -> HTMLResponse:
    """待支付的自付部分: the person's co-payments the provider asked to be paid online."""
    rows, error = await _rows_with_providers(web, session, "copayments_due")
    return page(
        request,
        "me_copay.html",
        session,
        rows=rows,
        error=error,
        **await _person_context(web, session),
    )


@router.get("/copay/{copayment_id}", response_class=HTMLResponse)
async def copay_pay(
    request: Request, copayment_id: str, web: StateDep, session: Session = PERSON
) -> Response:
    """去支付: the card form of Stripe.js (loaded from settings), confirming the
    co-payment's PaymentIntent in the browser; the card never reaches our servers."""
    if not _COPAY_ID.match(copayment_id):
        return page(request, "error.html", session, status_code=404, message="没有这笔自付款。")
    client = voucher_client(web, session)
    try:
        cp = await client.copayment_client_secret(copayment_id)
    except ApiError as exc:
        if exc.code == "COPAYMENT_NOT_PAYABLE":
            return RedirectResponse(f"/me/copay/{copayment_id}/done", status_code=303)
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    if cp.get("status") != "open" or not cp.get("client_secret"):
        return RedirectResponse(f"/me/copay/{copayment_id}/done", status_code=303)
    rows = [cp]
    await _name_providers(web, session, rows)
    response = page(
        request,
        "me_copay_pay.html",
        session,
        copay=rows[0],
        stripe_js_url=web.settings.stripe_js,
        publishable_key=web.settings.stripe_publishable_key,
        return_url=f"/me/copay/{copayment_id}/done",
        **await _person_context(web, session),
    )
    response.headers["Content-Security-Policy"] = _pay_csp(web)
    return response


@router.get("/copay/{copayment_id}/done", response_class=HTMLResponse)
async def copay_done(
    request: Request, copayment_id: str, web: StateDep, session: Session = PERSON
) -> HTMLResponse:
    """After paying: ask the voucher service to re-read the payment from Stripe (in case
    the webhook is late or lost; recorded once either way) and show the result."""
    if not _COPAY_ID.match(copayment_id):
        return page(request, "error.html", session, status_code=404, message="没有这笔自付款。")
    client = voucher_client(web, session)
    try:
        cp = await client.sync_copayment(copayment_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    rows = [cp]
    await _name_providers(web, session, rows)
    return page(
        request, "me_copay_done.html", session, copay=rows[0], **await _person_context(web, session)
    )
