"""Provider staff: the redeem page (scan or type the code, service, bill, confirm)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from web.charts import fen_to_yuan
from web.clients import ApiError
from web.deps import (
    CsrfSession,
    DbSession,
    PageForbidden,
    StateDep,
    ledger_client,
    provider_client,
    require_role,
    terminal_client,
    voucher_client,
)
from web.labels import sale_name
from web.render import page
from web.service import bill as bills
from web.service import once
from web.service.accounts import person_names
from web.sessions import Session

router = APIRouter(prefix="/provider")
STAFF = require_role(Role.provider_staff, Role.provider_admin)
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.~]{8,512}$")


REDEEM_KEYS = uuid.UUID("6f1d2b7e-5a0c-4f3e-9d8a-2c4b1e7f9a30")


_DIGITS = re.compile(r"^[0-9\s-]{12,40}$")


_CARD_TYPED = re.compile(r"^[A-Za-z2-7\s-]{100,400}$")
_PIN = re.compile(r"^[0-9]{6}$")


def _typed(token: str) -> str:
    """What the cashier entered: a scanned token as it is, the short numeric code under
    the QR with its spaces and dashes dropped (the voucher service resolves the digits), or
    a printed card's code typed in its groups of five (spaces dropped, upper case)."""
    token = token.strip()
    if _DIGITS.match(token):
        return re.sub(r"[\s-]", "", token)
    if _CARD_TYPED.match(token) and re.search(r"[\s-]", token):
        return re.sub(r"[\s-]", "", token).upper()
    return token


def is_card(token: str) -> bool:
    """A printed card's static code (kind 2 in docs/voucher-redemption.md's layout): it
    needs the person's PIN and may be used again and again."""
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    except (ValueError, binascii.Error):
        return False
    return len(raw) >= 2 and raw[1] == 2


def _pin_context(session: Session, idempotency_key: str) -> bytes:
    return f"cashier-pin:{session.id}:{idempotency_key}".encode()


def seal_pin(web: Any, session: Session, idempotency_key: str, pin: str) -> str:
    """The card's PIN as the confirm page carries it: encrypted (AES-GCM, the web's
    personal-data key) for this session and this bill's key, so the page holds no PIN."""
    sealed = web.identity.cipher.encrypt(pin, context=_pin_context(session, idempotency_key))
    return base64.urlsafe_b64encode(sealed).decode()


def open_pin(web: Any, session: Session, idempotency_key: str, sealed: str) -> str | None:
    """The PIN from the confirm form, or None when it does not open (another session's,
    another bill's, tampered with)."""
    try:
        pin = web.identity.cipher.decrypt(
            base64.urlsafe_b64decode(sealed.encode()),
            context=_pin_context(session, idempotency_key),
        )
    except (ValueError, binascii.Error, InvalidTag):
        return None
    return pin if _PIN.match(pin) else None


def refusal(exc: ApiError) -> str:
    """A refusal as the cashier says it to the elder: a card locked or a PIN missing in the
    cashier's words; anything else as the usual friendly message, with the service's
    figures where it sent them (the attempts left, a day's limit, the amount a bill must
    exceed: web/messages.py `with_figures`)."""
    if exc.code == "CARD_LOCKED":
        return "密码连续输错 5 次，这张卡已锁定，不能付款。请老人带身份证到社区或民政部门解锁。"
    if exc.code == "PIN_REQUIRED":
        return "这是老人卡，请老人输入 6 位卡密码。"
    return exc.friendly


def redeem_key(provider_id: str, token: str) -> str:
    """The idempotency key of redeeming `token` at a provider: the same for every press,
    retry, Back or reload with that code, so the voucher service answers a repeat with the
    first redemption (never "already used", never a second charge). A printed card's code
    never changes, so a card's key is drawn afresh for each bill shown for confirmation
    (the confirm page carries it: pressing confirm twice still redeems once)."""
    if is_card(token):
        return str(uuid.uuid4())
    return str(uuid.uuid5(REDEEM_KEYS, f"{provider_id}:{token}"))


def token_seconds_left(token: str, now: float) -> int | None:
    """Seconds until a phone's code expires (docs/voucher-redemption.md: base32 of version,
    kind, person, expires u32 epoch seconds, ...); None for a printed card or a code that
    does not read."""
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8))
    except (ValueError, binascii.Error):
        return None
    if len(raw) < 22 or raw[1] != 1:
        return None
    return max(0, int.from_bytes(raw[18:22], "big") - int(now))


def code_seconds_left(token: str, preview: dict[str, Any] | None, now: float) -> int | None:
    """Seconds the code the cashier holds stays valid: read from a scanned phone code
    itself; for typed short digits (they expire with the token they stand for) from the
    preview's `code_expires_at`; None when nobody can say (a card, no preview): then no
    countdown is shown rather than a made-up one."""
    left = token_seconds_left(token, now)
    if left is not None or not preview or not preview.get("code_expires_at"):
        return left
    try:
        expires = datetime.fromisoformat(str(preview["code_expires_at"]))
    except ValueError:
        return None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return max(0, int(expires.timestamp() - now))


async def _services(request: Request, web: Any, session: Session) -> tuple[list, str | None]:
    client = provider_client(web, session)
    try:
        provider = await client.get(session.provider_id or "")
        return provider.get("services", []), None
    except ApiError as exc:
        return [], exc.friendly
    finally:
        await client.aclose()


_VISIT = re.compile(r"^[0-9a-fA-F-]{36}$")


async def _billable_visits(
    web: Any, db: AsyncSession, session: Session, services: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Completed home visits not billed yet, for a price list with home-visit items (a bill
    for such an item names its visit); none otherwise."""
    if not any(s.get("home_visit") for s in services):
        return []
    client = await terminal_client(web, db, session)
    if client is None:
        return []
    try:
        return await client.visits("completed", unbilled=True)
    except ApiError:
        return []
    finally:
        await client.aclose()


@router.get("/redeem", response_class=HTMLResponse)
async def redeem_form(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: Session = STAFF,
    visit_id: str = "",
    again: bool = False,
) -> HTMLResponse:
    """Step 1: scan or type the code, give each item sold its quantity (and a price only for
    a variable-price item); the page adds up the total. A home-visit item is billed with its
    completed visit (chosen here; `visit_id` preselects one). Sent back to it with a bill
    that was refused (`again`), it shows that bill and why, once."""
    services, error = await _services(request, web, session)
    kept = (
        once.unseal(web, session, "redeem-form", "step-1", request.cookies.get(FORM_COOKIE))
        if again
        else None
    )
    response = page(
        request,
        "provider_redeem.html",
        session,
        services=services,
        error=(kept or {}).get("error") or error,
        problems=(kept or {}).get("problems") or {},
        has_terminal=await terminal_client(web, db, session) is not None,
        form=(kept or {}).get("form") or {"visit_id": visit_id if _VISIT.match(visit_id) else ""},
        visits=await _billable_visits(web, db, session, services),
    )
    if kept is not None:
        once.drop(response, web, FORM_COOKIE, FORM_PATH)
    return response


FORM_COOKIE = "yiyang_redeem_form"
FORM_PATH = "/provider/redeem"


def _bill_form(items: list[dict[str, Any]], token: str, visit_id: str) -> dict[str, str]:
    """Step 1's fields holding this bill (`items` as POST /v1/redemptions takes them)."""
    quantities = {f"qty_{i['service_code']}": str(i["quantity"]) for i in items}
    prices = {
        f"price_{i['service_code']}": bills.yuan_field(int(i["amount_fen"]))
        for i in items
        if "amount_fen" in i
    }
    return {**quantities, **prices, "token": token, "visit_id": visit_id}


@router.get("/redeem/confirm/edit")
async def redeem_edit(
    request: Request, web: StateDep, k: str = "", session: Session = STAFF
) -> Response:
    """返回修改: step 1 again with the bill being confirmed in it (the code too), to change
    a quantity or an item; a lapsed or redeemed bill, an empty step 1."""
    state = once.unseal(web, session, "bill", k, request.cookies.get(BILL_COOKIE))
    items = bills.decode(str((state or {}).get("bill") or ""))
    if state is None or state.get("done") or items is None:
        return RedirectResponse("/provider/redeem", status_code=303)
    form = _bill_form(items, str(state.get("token") or ""), str(state.get("visit_id") or ""))
    return _back_to_step_1(web, session, form)


def _back_to_step_1(
    web: Any,
    session: Session,
    form: dict[str, str],
    *,
    problems: dict[str, str] | None = None,
    error: str | None = None,
) -> RedirectResponse:
    """Post/redirect/get for a bill that was refused: step 1 shows it again with why (the
    bill and the reason ride in a sealed cookie, read once), so Back and reload never meet
    the browser's "resubmit the form?" page. The PIN is never kept."""
    response = RedirectResponse("/provider/redeem?again=1", status_code=303)
    state = {"form": form, "problems": problems or {}, "error": error}
    sealed = once.seal(web, session, "redeem-form", "step-1", state, BILL_TTL_S)
    once.keep(response, web, FORM_COOKIE, sealed, FORM_PATH, BILL_TTL_S)
    return response


@router.post("/redeem", response_class=HTMLResponse)
async def redeem_preview(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    token: Annotated[str, Form()] = "",
    pin: Annotated[str, Form()] = "",
) -> Response:
    """Step 2: check what was entered against the price list and show the bill -- its
    lines, the total, the subsidy and the co-payment (the voucher service's preview) -- for
    confirmation, with how long the code stays valid, and the code's idempotency key so
    that pressing confirm twice (or Back and confirm again) redeems once."""
    if session.role not in (Role.provider_staff.value, Role.provider_admin.value):
        return page(
            request, "error.html", session, status_code=403, message="您的账号不能打开这个页面。"
        )
    services, error = await _services(request, web, session)
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str) and k != "pin"}
    bill, problems = bills.read_form(fields, services)
    token = _typed(token)
    pin = pin.strip()
    if not _TOKEN.match(token):
        problems["token"] = "请扫描或输入老人出示的付款码。"
    elif is_card(token) and not _PIN.match(pin):
        problems["pin"] = "这是老人卡，请老人输入 6 位卡密码。"
    visit_id = fields.get("visit_id", "").strip()
    if visit_id and not _VISIT.match(visit_id):
        visit_id = ""
    form = {
        **{k: v for k, v in fields.items() if v and k != "csrf_token"},
        "token": token,
        "visit_id": visit_id,
    }
    if problems:
        return _back_to_step_1(web, session, form, problems=problems, error=error)
    preview = None
    client = await terminal_client(web, db, session)
    if client is not None:
        try:
            preview = await client.preview(
                token,
                bill.items(),
                bill.total_fen,
                visit_id or None,
                pin=pin if is_card(token) else None,
            )
        except ApiError as exc:
            if exc.code == "TOKEN_USED":  # pressed Back and sent the bill again?
                done = await _replayed(client, session, token, bill)
                if done is not None:
                    return done
            return _back_to_step_1(web, session, form, error=refusal(exc))
        finally:
            await client.aclose()
    key = redeem_key(session.provider_id or "", token)
    shown = {k: preview.get(k) for k in PREVIEW_SHOWN} if preview else None
    bill_state = {
        "token": token,
        "bill": bill.encode(),
        "gross_fen": bill.total_fen,
        "visit_id": visit_id,
        "pin": pin if is_card(token) else "",
        "preview": shown,
    }
    # post/redirect/get: the bill to confirm has its own address, so Back from the result
    # and a reload of this step never ask to send a form again
    response = RedirectResponse(f"{BILL_PATH}?k={key}", status_code=303)
    _keep_bill(response, web, session, key, bill_state)
    return response


BILL_COOKIE = "yiyang_bill"
BILL_PATH = "/provider/redeem/confirm"
BILL_TTL_S = 15 * 60  # a code lives a minute; a card's bill may wait while the person decides
PREVIEW_SHOWN = (
    "subsidy_fen",
    "copay_fen",
    "code_expires_at",
    "beneficiary_name_masked",
    "program_code",
)
_KEY = re.compile(r"^[0-9a-f-]{36}$")


def _keep_bill(
    response: Response, web: Any, session: Session, key: str, state: dict[str, Any]
) -> None:
    """The bill being confirmed (or, once redeemed, the redemption it became) rides in a
    sealed cookie for the confirm step's address only: bound to this session and this
    bill's key, the card's PIN in it encrypted, never in the URL or the page."""
    sealed = once.seal(web, session, "bill", key, state, BILL_TTL_S)
    once.keep(response, web, BILL_COOKIE, sealed, BILL_PATH, BILL_TTL_S)


@router.get("/redeem/confirm", response_class=HTMLResponse)
async def redeem_confirm_page(
    request: Request, web: StateDep, k: str = "", session: Session = STAFF
) -> Response:
    """Step 2's page: the bill as priced, the subsidy and the co-payment, for the person to
    agree to. Opened again after it was redeemed (Back from the result), it goes to that
    result; once the bill has lapsed or belongs to another sign-in, back to step 1."""
    state = once.unseal(web, session, "bill", k, request.cookies.get(BILL_COOKIE))
    if state is None or not _KEY.match(k):
        session.flash.append(("err", "这张账单已经失效，请重新扫码。"))
        return RedirectResponse("/provider/redeem", status_code=303)
    if state.get("done"):
        session.flash.append(("ok", "这一笔已经收款了，没有重复收费。"))
        return RedirectResponse(f"/provider/redeemed/{state['done']}", status_code=303)
    services, _ = await _services(request, web, session)
    bill = bills.priced(str(state.get("bill") or ""), services)
    if bill is None or bill.total_fen != state.get("gross_fen"):
        session.flash.append(("err", "价目表刚刚更新了，请按新的价格重新录入。"))
        return RedirectResponse("/provider/redeem", status_code=303)
    token, pin, preview = str(state["token"]), str(state.get("pin") or ""), state.get("preview")
    return page(
        request,
        "provider_confirm.html",
        session,
        form={"token": token, "visit_id": state.get("visit_id") or ""},
        bill=bill,
        gross_fen=bill.total_fen,
        idempotency_key=k,
        preview=preview,
        seconds_left=code_seconds_left(token, preview, time.time()),
        sealed_pin=seal_pin(web, session, k, pin) if pin else "",
    )


async def _replayed(client: Any, session: Session, token: str, bill: Any) -> Response | None:
    """The code was used: if it was used here for this very bill (same key, same body), the
    voucher service answers that redemption again; show it instead of a refusal that
    invites a second charge. Anything else (another bill, another provider): None."""
    try:
        result = await client.redeem(
            token, bill.items(), bill.total_fen, redeem_key(session.provider_id or "", token)
        )
    except ApiError:
        return None
    session.flash.append(("ok", "这个付款码已经收过款了，下面是那一笔的结果，没有重复收费。"))
    return _to_result(session, result)


def _to_result(session: Session, result: dict[str, Any]) -> RedirectResponse:
    """Post/redirect/get: the result has its own address, so Back and reload show it again
    and never send the payment a second time. The balance (not kept anywhere the result
    page can read it) comes along once, as a message."""
    session.flash.append(
        ("ok", f"补贴券余额：{fen_to_yuan(int(result.get('balance_fen') or 0))} 元")
    )
    return RedirectResponse(f"/provider/redeemed/{result['id']}", status_code=303)


@router.post("/redeem/confirm", response_class=HTMLResponse)
async def redeem_confirm(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    token: Annotated[str, Form()] = "",
    bill: Annotated[str, Form()] = "",
    gross_fen: Annotated[int, Form()] = 0,
    idempotency_key: Annotated[str, Form()] = "",
    visit_id: Annotated[str, Form()] = "",
    sealed_pin: Annotated[str, Form()] = "",
    copay_method: Annotated[str, Form()] = "",
) -> Response:
    """Step 3: redeem the bill shown (its lines and the total the person agreed to) with the
    terminal's secret (a printed card with the PIN the person typed at step 1, carried
    encrypted in the form's body: never in a URL, never readable in the page); show
    subsidy, co-payment and balance. The co-payment's way (cash taken, or the family pays
    online), chosen on the confirm step, is recorded at once, so the result page asks
    nothing more."""
    if session.role not in (Role.provider_staff.value, Role.provider_admin.value):
        return page(
            request, "error.html", session, status_code=403, message="您的账号不能打开这个页面。"
        )
    client = await terminal_client(web, db, session)
    if client is None:
        return page(
            request,
            "error.html",
            session,
            status_code=409,
            message="本账号没有绑定收款终端，不能收款。请用收款员的账号收款；给账号绑定收款终端，请联系本地区的账号管理员。",
        )
    items = bills.decode(bill)
    token = _typed(token)
    pin = open_pin(web, session, idempotency_key, sealed_pin) if sealed_pin else None
    try:
        uuid.UUID(idempotency_key)
        if gross_fen <= 0 or not _TOKEN.match(token) or items is None:
            raise ValueError
        if visit_id and not _VISIT.match(visit_id):
            raise ValueError
        if is_card(token) and pin is None:
            raise ValueError
    except ValueError:
        await client.aclose()
        return page(
            request,
            "error.html",
            session,
            status_code=422,
            message="提交的内容不完整，请重新扫码。",
        )
    try:
        result = await client.redeem(
            token,
            items,
            gross_fen,
            idempotency_key,
            staff_id=session.username,
            visit_id=visit_id or None,
            pin=pin if is_card(token) else None,
        )
    except ApiError as exc:
        # back to step 1 with the bill as it was and why (a phone's code is scanned again;
        # a card's stays, its PIN is asked again)
        form = _bill_form(items, token if is_card(token) else "", visit_id)
        return _back_to_step_1(web, session, form, error=refusal(exc))
    finally:
        await client.aclose()
    if int(result.get("copay_fen") or 0) > 0 and copay_method in ("cash", "stripe"):
        await _start_copayment(web, session, str(result["id"]), copay_method)
    response = _to_result(session, result)
    _keep_bill(response, web, session, idempotency_key, {"done": str(result["id"])})
    return response


async def _start_copayment(web: Any, session: Session, redemption_id: str, method: str) -> None:
    """Record the co-payment's way chosen before confirming (the same call as the result
    page's buttons: a repeat answers the same co-payment). When it cannot be recorded the
    person is told, and the result page asks again."""
    client = voucher_client(web, session)
    try:
        await client.start_copayment(redemption_id, method)
    except ApiError as exc:
        session.flash.append(("err", f"自付方式没有记下：{exc.friendly} 请在下面再选一次。"))
    finally:
        await client.aclose()


@router.get("/redeemed/{redemption_id}", response_class=HTMLResponse)
async def redeemed(
    request: Request, redemption_id: str, web: StateDep, session: Session = STAFF
) -> HTMLResponse:
    """The result of a redemption at this provider (today's or yesterday's, Beijing time):
    subsidy, co-payment and how the co-payment is taken (the way chosen on the confirm step
    is shown; the question only when none was). Reloading it changes nothing."""
    result = None
    if re.match(r"^[\w-]{1,64}$", redemption_id):
        today = datetime.now(ZoneInfo(web.common.timezone)).date()
        client = voucher_client(web, session)
        try:
            for day in (today, today - timedelta(days=1)):
                rows = await client.provider_day(session.provider_id or "", day.isoformat())
                result = next((r for r in rows if str(r.get("id")) == redemption_id), None)
                if result is not None:
                    break
        except ApiError:
            result = None
        finally:
            await client.aclose()
    if result is None:
        return page(request, "error.html", session, status_code=404, message="没有这笔交易。")
    return page(
        request,
        "provider_result.html",
        session,
        result=result,
        error=None,
        gross_fen=result.get("gross_fen"),
    )


@router.post("/redemptions/{redemption_id}/copayment", response_class=HTMLResponse)
async def copayment(
    request: Request,
    redemption_id: str,
    web: StateDep,
    session: CsrfSession,
    method: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """After a redemption with a co-payment: 现金已收 (cash taken at the counter) or
    家属在线支付 (the family pays online; it appears on their 待支付 page). Choosing again
    answers the same co-payment; the other method is refused."""
    if session.role not in (Role.provider_staff.value, Role.provider_admin.value):
        raise PageForbidden()
    if method not in ("cash", "stripe") or not re.match(r"^[\w-]{1,64}$", redemption_id):
        return page(
            request,
            "error.html",
            session,
            status_code=422,
            message="请选择现金已收或家属在线支付。",
        )
    client = voucher_client(web, session)
    try:
        cp = await client.start_copayment(redemption_id, method)
    except ApiError as exc:
        return page(
            request,
            "provider_copay.html",
            session,
            status_code=exc.page_status,
            error=exc.friendly,
            copay=None,
        )
    finally:
        await client.aclose()
    return page(request, "provider_copay.html", session, error=None, copay=cp)


# A co-payment paid online, as the voucher service reports it (web/labels.py copay_status).
_PAID_ONLINE = ("succeeded", "paid")


def day_summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Totals of the day's redemptions that stand (voided ones are listed, not counted), the
    co-payments split as the cashier counts them at the end of the day: cash in the till,
    paid online by the family, and online still unpaid."""
    live = [r for r in rows if r.get("status") != "voided"]

    def copay(keep: Any) -> int:
        return sum(int(r["copay_fen"]) for r in live if keep(r))

    return {
        "count": len(live),
        "gross_fen": sum(int(r["gross_fen"]) for r in live),
        "subsidy_fen": sum(int(r["subsidy_fen"]) for r in live),
        "copay_fen": copay(lambda r: True),
        "cash_fen": copay(lambda r: r.get("copay_method") == "cash"),
        "online_paid_fen": copay(
            lambda r: r.get("copay_method") == "stripe" and r.get("copay_status") in _PAID_ONLINE
        ),
        "online_waiting_fen": copay(
            lambda r: (
                r.get("copay_method") == "stripe" and r.get("copay_status") not in _PAID_ONLINE
            )
        ),
        # (a terminal's sale whose co-payment method was never chosen)
        "unrecorded_fen": copay(lambda r: r.get("copay_method") not in ("cash", "stripe")),
        "voided": len(rows) - len(live),
    }


def void_message(row: dict[str, Any] | None) -> str:
    """What the cashier is told after a void: the subsidy is back on the voucher, and what
    happens to the person's co-payment (cash to hand back; online, refunded by itself)."""
    said = "已撤销，补贴已退回老人的补贴券。"
    fen = int((row or {}).get("copay_fen") or 0)
    if not row or fen <= 0:
        return said
    amount = fen_to_yuan(fen)
    if row.get("copay_method") == "cash":
        return said + f"请把老人自付的 {amount} 元现金退还给老人。"
    if row.get("copay_method") == "stripe" and row.get("copay_status") in _PAID_ONLINE:
        return said + f"家属在线支付的 {amount} 元将原路退回，不用退现金。"
    if row.get("copay_method") == "stripe":
        return said + "家属还没有在线支付这笔自付款，不用再付了。"
    return said


@router.get("/today", response_class=HTMLResponse)
async def today(request: Request, web: StateDep, session: Session = STAFF) -> HTMLResponse:
    """Today's redemptions at this provider, with void, and the day's summary."""
    day = datetime.now(ZoneInfo(web.common.timezone)).date().isoformat()
    client = voucher_client(web, session)
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = await client.provider_day(session.provider_id or "", day)
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    services, _ = await _services(request, web, session)
    names = {s.get("code"): s.get("name") for s in services}
    for r in rows:
        r.setdefault("service_name", sale_name(r, names))
    return page(
        request,
        "provider_today.html",
        session,
        rows=list(reversed(rows)),  # the newest first: the sale just made is at the top
        error=error,
        day=day,
        summary=day_summary(rows),
    )


@router.post("/redemptions/{redemption_id}/void")
async def void(
    redemption_id: str, web: StateDep, session: CsrfSession, reason: Annotated[str, Form()] = ""
) -> Response:
    """Void a redemption of today (the service refuses one already claimed)."""
    if session.role not in (Role.provider_staff.value, Role.provider_admin.value):
        raise PageForbidden()
    if not re.match(r"^[\w-]{1,64}$", redemption_id):
        session.flash.append(("err", "没有这笔交易。"))
        return RedirectResponse("/provider/today", status_code=303)
    if not reason.strip():
        session.flash.append(("err", "请填写撤销原因。"))
        return RedirectResponse("/provider/today", status_code=303)
    client = voucher_client(web, session)
    try:
        day = datetime.now(ZoneInfo(web.common.timezone)).date().isoformat()
        row = None
        with contextlib.suppress(ApiError):  # (only to say what becomes of the co-payment)
            rows = await client.provider_day(session.provider_id or "", day)
            row = next((r for r in rows if r.get("id") == redemption_id), None)
        await client.void(redemption_id, reason.strip()[:500])
        session.flash.append(("ok", void_message(row)))
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse("/provider/today", status_code=303)


ADMIN = require_role(Role.provider_admin)
KINDS = {
    "meal_point": "助餐点",
    "community_embedded": "社区嵌入式养老服务设施",
    "rural_station": "农村“家门口”养老服务站",
    "institution": "养老机构",
    "home_care": "居家上门服务机构",
}


BANK_CHANGE_STATUS = {
    "pending": "等待民政部门审核",
    "approved": "已批准",
    "rejected": "已驳回",
    "superseded": "已被后来的申请替代",
}


async def admin_page(
    request: Request,
    web: Any,
    db: AsyncSession,
    session: Session,
    issued: Any = None,
    status_code: int = 200,
    error: str | None = None,
    bank_form: dict[str, str] | None = None,
) -> HTMLResponse:
    """Profile, price list (and a dearer list waiting for the officers, or its refusal),
    terminals, the settlement account (approved and pending) and its change history
    (web/routes/bank_accounts.py takes the change form)."""
    client = provider_client(web, session)
    provider: dict[str, Any] = {}
    terminals: list[dict[str, Any]] = []
    bank_changes: list[dict[str, Any]] = []
    price_changes: list[dict[str, Any]] = []
    try:
        provider = await client.get(session.provider_id or "")
        terminals = await client.terminals(session.provider_id or "")
        bank_changes = await client.bank_changes(session.provider_id or "")
        price_changes = await client.price_changes(session.provider_id or "")
    except ApiError as exc:
        error = error or exc.friendly
    finally:
        await client.aclose()
    names = await person_names(
        db, [who for c in bank_changes for who in (c.get("decided_by"), c.get("requested_by"))]
    )
    for change in bank_changes:
        change["decider_name"] = names.get(change.get("decided_by") or "", "")
        change["requester_name"] = names.get(change.get("requested_by") or "", "")
    return page(
        request,
        "provider_admin.html",
        session,
        status_code=status_code,
        provider=provider,
        terminals=terminals,
        issued=issued,
        error=error,
        kinds=KINDS,
        bank_changes=bank_changes,
        price_changes=[c for c in price_changes if c.get("status") != "superseded"],
        bank_form=bank_form or {},
        bank_statuses=BANK_CHANGE_STATUS,
        request_key=str(uuid.uuid4()),  # the terminal form's: pressed twice, one terminal
    )


@router.get("/admin", response_class=HTMLResponse)
async def admin(
    request: Request, web: StateDep, db: DbSession, session: Session = ADMIN
) -> HTMLResponse:
    """The provider admin's page: profile, price list, terminals, settlement account."""
    return await admin_page(request, web, db, session)


@router.post("/admin/terminals", response_class=HTMLResponse)
async def new_terminal(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    name: Annotated[str, Form()] = "",
    request_key: Annotated[str, Form()] = "",
) -> Response:
    """Issue a terminal; its secret is shown this once and kept nowhere by the web app. The
    form's request key goes as the Idempotency-Key: pressed twice, the second press gets
    the first terminal and its secret back from the provider service, not another one."""
    if session.role != Role.provider_admin.value:
        raise PageForbidden()
    name = name.strip()
    if not name or len(name) > 60:
        return await admin_page(
            request, web, db, session, status_code=422, error="请填写终端名称（60 字以内）。"
        )
    client = provider_client(web, session)
    try:
        key = request_key if _KEY.match(request_key) else str(uuid.uuid4())
        issued = await client.new_terminal(session.provider_id or "", name, key)
    except ApiError as exc:
        return await admin_page(
            request, web, db, session, status_code=exc.page_status, error=exc.friendly
        )
    finally:
        await client.aclose()
    # post/redirect/get: the secret crosses in a sealed cookie to the page that shows it once,
    # so a reload or Back never sends the form again (which would open another terminal)
    terminal_id = str(issued["terminal_id"])
    response = RedirectResponse(f"/provider/admin/terminals/{terminal_id}", status_code=303)
    secret = {"name": issued["name"], "secret": issued["secret"]}
    once.keep(
        response,
        web,
        SECRET_COOKIE,
        once.seal(web, session, "terminal-secret", terminal_id, secret, SECRET_TTL_S),
        f"/provider/admin/terminals/{terminal_id}",
        SECRET_TTL_S,
    )
    return response


@router.post("/admin/terminals/{terminal_id}/revoke")
async def revoke_terminal(
    terminal_id: str, web: StateDep, session: CsrfSession, sure: Annotated[str, Form()] = ""
) -> Response:
    """Stop a terminal (a lost or retired device): the voucher service refuses its
    redemptions from its next directory poll. Asked twice (Back, reload): already stopped."""
    if session.role != Role.provider_admin.value:
        raise PageForbidden()
    if not _TERMINAL_ID.match(terminal_id):
        session.flash.append(("err", "没有这台终端。"))
    elif sure != "1":
        session.flash.append(("err", "请先勾选“确认停用”，再停用这台终端。"))
    else:
        client = provider_client(web, session)
        try:
            stopped = await client.revoke_terminal(session.provider_id or "", terminal_id)
            session.flash.append(("ok", f"已停用终端“{stopped.get('name', '')}”。"))
        except ApiError as exc:
            session.flash.append(("err", exc.friendly))
        finally:
            await client.aclose()
    return RedirectResponse("/provider/admin#terminals", status_code=303)


SECRET_COOKIE = "yiyang_terminal_secret"
SECRET_TTL_S = 600  # the secret must be read within ten minutes of the issue
_TERMINAL_ID = re.compile(r"^[0-9a-f-]{36}$")


@router.get("/admin/terminals/{terminal_id}", response_class=HTMLResponse)
async def new_terminal_secret(
    request: Request, terminal_id: str, web: StateDep, db: DbSession, session: Session = ADMIN
) -> HTMLResponse:
    """The new terminal's secret, shown this once; opened again (reload, Back, another tab)
    the page says it is no longer shown."""
    if not _TERMINAL_ID.match(terminal_id):
        return await admin_page(request, web, db, session, status_code=404, error="没有这个终端。")
    sealed = once.unseal(
        web, session, "terminal-secret", terminal_id, request.cookies.get(SECRET_COOKIE)
    )
    if sealed is None:
        response = await admin_page(
            request,
            web,
            db,
            session,
            status_code=410,
            error="这个终端的密钥只显示一次，已经显示过了。没有记下的话，请再开通一个新终端。",
        )
    else:
        response = await admin_page(request, web, db, session, issued=sealed)
    once.drop(response, web, SECRET_COOKIE, f"/provider/admin/terminals/{terminal_id}")
    return response


# --- settlement claims (the provider admin) --------------------------------------------------

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CLAIM_STATUS = {
    "pending": "处理中",
    "submitted": "待财务审批",
    "approved": "已审批，待付款",
    "rejected": "已退回",
    "batched": "付款中",
    "paid": "已付款",
    "abandoned": "已作废",
}


def this_month() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


async def _claims_page(
    request: Request,
    web: Any,
    session: Session,
    period: str,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    client = ledger_client(web, session)
    claimable: dict[str, Any] = {}
    claims: list[dict[str, Any]] = []
    try:
        if _PERIOD.match(period):
            claimable = await client.claimable(session.provider_id or "", period)
        claims = await client.provider_claims(session.provider_id or "")
    except ApiError as exc:
        error = error or exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "provider_claims.html",
        session,
        status_code=status_code,
        period=period,
        claimable=claimable,
        claims=claims,
        error=error,
        statuses=CLAIM_STATUS,
        idempotency_key=str(uuid.uuid4()),
        month_state=month_state(period),
    )


def month_state(period: str) -> str:
    """`ended` (the month to claim), `open` (the month in progress: claimable only when the
    provider says so, since its sales can then no longer be voided) or `future`."""
    now = this_month()
    return "ended" if period < now else "open" if period == now else "future"


def last_month() -> str:
    first = datetime.now(ZoneInfo("Asia/Shanghai")).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


@router.get("/claims", response_class=HTMLResponse)
async def claims_page(
    request: Request, web: StateDep, session: Session = ADMIN, period: str = ""
) -> HTMLResponse:
    """Settlement: what the provider can claim for a month (redemptions posted to the ledger,
    not voided, in no claim) and its claims with their status. It opens on last month, the
    one to claim."""
    period = period.strip() or last_month()
    if not _PERIOD.match(period):
        return await _claims_page(
            request, web, session, period, status_code=422, error="月份请按 2026-11 这样填写。"
        )
    return await _claims_page(request, web, session, period)


@router.post("/claims", response_class=HTMLResponse)
async def claim_period(
    request: Request,
    web: StateDep,
    session: CsrfSession,
    period: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
    sure: Annotated[str, Form()] = "",
) -> Response:
    """Claim every claimable redemption of the month. The key is made when the form is
    shown, so pressing twice (or a retry) makes one claim. A month not yet over is claimed
    only when ticked as meant (its sales can then no longer be voided); a month to come,
    never."""
    if session.role != Role.provider_admin.value:
        raise PageForbidden()
    period = period.strip()
    if not _PERIOD.match(period):
        return await _claims_page(
            request, web, session, period, status_code=422, error="月份请按 2026-11 这样填写。"
        )
    state = month_state(period)
    if state == "future" or (state == "open" and sure != "1"):
        session.flash.append(
            (
                "err",
                "这个月还没有到，不能申请结算。"
                if state == "future"
                else "本月还没有结束：确实要现在申请，请先勾选确认。",
            )
        )
        return RedirectResponse(f"/provider/claims?period={period}", status_code=303)
    try:
        uuid.UUID(idempotency_key)
    except ValueError:
        return await _claims_page(
            request, web, session, period, status_code=422, error="页面已过期，请刷新后再提交。"
        )
    client = ledger_client(web, session)
    try:
        claim = await client.create_claim(
            session.provider_id or "", period, f"web-claim:{idempotency_key}"
        )
    except ApiError as exc:
        return await _claims_page(
            request, web, session, period, status_code=exc.page_status, error=exc.friendly
        )
    finally:
        await client.aclose()
    total = int(claim.get("total_fen", 0))
    message = (
        f"已提交结算申请：{claim.get('count', 0)} 笔，共 {fen_to_yuan(total)} 元，等待财务审批。"
    )
    session.flash.append(("ok", message))
    return RedirectResponse(f"/provider/claims?period={period}", status_code=303)
