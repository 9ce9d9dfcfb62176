"""Civil-affairs officer, from a person's page (web/routes/officer_people.py): printed cards
for people without a phone (issue, reprint, unlock) and the PIN letter; proxies (family
members or agents) granted and revoked (docs/lifecycle.md, "Cards and proxies"); the bank
account the person's cash benefits (护理补贴, 高龄津贴) are paid to.

The PIN exists only in the voucher service's answer to the issue. Post/redirect/get: the
POST that issues the card puts the PIN and the card's code into a short-lived cookie,
encrypted (AES-GCM, bound to this session and this card) and readable only by the letter's
address; the letter's GET shows them once and clears the cookie, so a reload, Back or
another tab says the PIN is no longer available. The PIN is never in a URL, a log line, the
web's database or a page but that one letter.
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from web.clients import ApiError
from web.deps import CsrfSession, DbSession, StateDep, WebState, require_role, voucher_client
from web.render import page
from web.routes.officer import officer_only
from web.service import accounts, once
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
_ID = re.compile(r"^[0-9a-f-]{36}$")
LETTER_COOKIE = "yiyang_card_letter"
LETTER_TTL_S = 600  # the letter must be opened within ten minutes of the issue
RELATIONS = ("子女", "配偶", "儿媳", "女婿", "孙子女", "兄弟姐妹", "其他亲属", "村（居）委会代办人")


def _not_found(request: Request, session: Session) -> HTMLResponse:
    return page(
        request,
        "error.html",
        session,
        status_code=404,
        message="没有找到这位老人（或不在您负责的范围内）。",
    )


def seal_letter(web: WebState, session: Session, card_id: str, token: str, pin: str) -> str:
    """The cookie's value: the card's code and PIN, encrypted for this session and card,
    with the time it stops being readable (web/service/once.py)."""
    return once.seal(
        web, session, "card-letter", card_id, {"token": token, "pin": pin}, LETTER_TTL_S
    )


def open_letter(web: WebState, session: Session, card_id: str, value: str | None) -> Any:
    """The card's code and PIN from the cookie, or None (absent, expired, another session's
    or another card's, tampered with)."""
    data = once.unseal(web, session, "card-letter", card_id, value)
    if data is None or not re.fullmatch(r"\d{6}", str(data.get("pin", ""))):
        return None
    return data


def code_groups(token: str) -> list[str]:
    """The card's code in groups of five, to type when the QR code cannot be scanned (the
    cashier's page drops the spaces)."""
    return [token[i : i + 5] for i in range(0, len(token), 5)]


@router.post("/people/{person_id}/cards", response_class=HTMLResponse)
async def issue_card(
    request: Request,
    person_id: str,
    web: StateDep,
    session: CsrfSession,
    current: Annotated[str, Form()] = "",
) -> Response:
    """Issue the person's card, or reprint it (a replacement: the old card stops working at
    once). `current` is the card the page showed as current ("none" for no card): when it
    is no longer current (pressed twice, or another officer reprinted meanwhile) nothing is
    issued, so a letter already printed stays valid. Then the PIN letter, once."""
    officer_only(session)
    if not _ID.match(person_id):
        return _not_found(request, session)
    client = voucher_client(web, session)
    try:
        cards = await client.cards(person_id)
        now = next((c["id"] for c in cards if c["status"] != "replaced"), "none")
        if current != now:
            session.flash.append(("err", "这位老人的卡刚刚已经发过或补发过，没有再发新卡。"))
            return RedirectResponse(f"/officer/people/{person_id}#cards", status_code=303)
        issued = await client.issue_card(person_id)
    except ApiError as exc:
        if exc.page_status == 404:
            return _not_found(request, session)
        session.flash.append(("err", exc.friendly))
        return RedirectResponse(f"/officer/people/{person_id}#cards", status_code=303)
    finally:
        await client.aclose()
    card_id = str(issued["card_id"])
    response = RedirectResponse(
        f"/officer/people/{person_id}/cards/{card_id}/letter", status_code=303
    )
    once.keep(
        response,
        web,
        LETTER_COOKIE,
        seal_letter(web, session, card_id, str(issued["token"]), str(issued["pin"])),
        f"/officer/people/{person_id}/cards/{card_id}/letter",
        LETTER_TTL_S,
    )
    return response


@router.get("/people/{person_id}/cards/{card_id}/letter", response_class=HTMLResponse)
async def card_letter(
    request: Request, person_id: str, card_id: str, web: StateDep, session: Session = OFFICER
) -> Response:
    """The card and its PIN letter, a printable A4 page. The PIN is shown this once; the
    page opened again says it is no longer available (reprint the card if it was lost)."""
    if not _ID.match(person_id) or not _ID.match(card_id):
        return _not_found(request, session)
    sealed = open_letter(web, session, card_id, request.cookies.get(LETTER_COOKIE))
    client = voucher_client(web, session)
    qr_svg = ""
    try:
        person = await client.beneficiary(person_id)
        card = next((c for c in await client.cards(person_id) if c["id"] == card_id), None)
        if card is not None and sealed is not None and card["status"] != "replaced":
            svg = await client.code_svg(sealed["token"])
            qr_svg = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    except ApiError:
        return _not_found(request, session)
    finally:
        await client.aclose()
    if card is None:
        return _not_found(request, session)
    shown = sealed is not None and card["status"] != "replaced"
    response = page(
        request,
        "officer_card_letter.html",
        session,
        status_code=200 if shown else 410,
        person=person,
        card=card,
        pin=sealed["pin"] if shown else None,
        groups=code_groups(sealed["token"]) if shown else [],
        qr_svg=qr_svg,
    )
    once.drop(response, web, LETTER_COOKIE, f"/officer/people/{person_id}/cards/{card_id}/letter")
    return response


@router.post("/people/{person_id}/cards/{card_id}/unlock", response_class=HTMLResponse)
async def unlock_card(
    request: Request, person_id: str, card_id: str, web: StateDep, session: CsrfSession
) -> Response:
    """Unlock a card locked after five wrong PINs (the person has shown who they are); the
    PIN stays the same. Sent again (Back, reload): says the card is not locked."""
    officer_only(session)
    if not _ID.match(person_id) or not _ID.match(card_id):
        return _not_found(request, session)
    client = voucher_client(web, session)
    try:
        await client.unlock_card(person_id, card_id)
        session.flash.append(("ok", "老人卡已解锁，可以继续用原来的密码。"))
    except ApiError as exc:
        if exc.code in ("BENEFICIARY_NOT_FOUND",):
            return _not_found(request, session)
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(f"/officer/people/{person_id}#cards", status_code=303)


@router.post("/people/{person_id}/proxies", response_class=HTMLResponse)
async def grant_proxy(
    request: Request,
    person_id: str,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    account: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    relation: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> Response:
    """Authorise a family member or agent to act for the person. `account` is the sign-in
    name of their family-member (家属) account, which the voucher service knows them by; the
    account must exist and be a family member's. An account already authorised for the
    person is not authorised twice (a resubmitted form grants once)."""
    officer_only(session)
    if not _ID.match(person_id):
        return _not_found(request, session)
    account = account.strip().lower()
    form = {"account": account, "name": name.strip(), "relation": relation.strip(), "phone": ""}
    problem = None
    if not accounts.USERNAME.match(account):
        problem = "请填写家属的登录账号（字母、数字）。"
    elif not form["name"] or len(form["name"]) > 100:
        problem = "请填写代办人姓名。"
    elif form["relation"] not in RELATIONS:
        problem = "请选择与老人的关系。"
    elif phone.strip() and not re.fullmatch(r"[0-9+\- ]{7,20}", phone.strip()):
        problem = "手机号码格式不对。"
    elif await accounts.proxy_account(db, account) is None:
        problem = "没有这个家属账号，请先请系统管理员开通家属账号。"
    if problem:
        session.flash.append(("err", problem))
        return RedirectResponse(f"/officer/people/{person_id}#proxies", status_code=303)
    body: dict[str, Any] = {
        "proxy_sub": accounts.subject_of(account),
        "name": form["name"],
        "relation": form["relation"],
    }
    if phone.strip():
        body["phone"] = phone.strip()
    client = voucher_client(web, session)
    try:
        await client.add_proxy(person_id, body)
        session.flash.append(("ok", f"已授权 {form['name']} 代办。"))
    except ApiError as exc:
        if exc.page_status == 404:
            return _not_found(request, session)
        # PROXY_EXISTS (already authorised; a resubmitted form) reads as good news
        session.flash.append(("ok" if exc.code == "PROXY_EXISTS" else "err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(f"/officer/people/{person_id}#proxies", status_code=303)


@router.post("/people/{person_id}/proxies/{proxy_id}/revoke", response_class=HTMLResponse)
async def revoke_proxy(
    request: Request, person_id: str, proxy_id: str, web: StateDep, session: CsrfSession
) -> Response:
    """Withdraw a proxy's authorisation: from their next request they no longer see or
    spend the person's vouchers."""
    officer_only(session)
    if not _ID.match(person_id) or not _ID.match(proxy_id):
        return _not_found(request, session)
    client = voucher_client(web, session)
    try:
        done = await client.revoke_proxy(person_id, proxy_id)
        session.flash.append(("ok", f"已终止 {done.get('name', '')} 的代办授权。"))
    except ApiError as exc:
        if exc.code == "BENEFICIARY_NOT_FOUND":
            return _not_found(request, session)
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(f"/officer/people/{person_id}#proxies", status_code=303)


_ACCOUNT_NUMBER = re.compile(r"^[0-9]{8,30}$")


@router.post("/people/{person_id}/payout-account", response_class=HTMLResponse)
async def set_payout_account(
    request: Request,
    person_id: str,
    web: StateDep,
    session: CsrfSession,
    bank_name: Annotated[str, Form()] = "",
    account_name: Annotated[str, Form()] = "",
    account_number: Annotated[str, Form()] = "",
) -> Response:
    """Record or replace the bank account the person's cash benefits are paid to (finance
    lists those without one as not payable). Stored encrypted by the voucher service and
    shown masked; the number typed is never shown back, even when something else is wrong."""
    officer_only(session)
    if not _ID.match(person_id):
        return _not_found(request, session)
    number = re.sub(r"[\s-]", "", account_number)
    body = {"bank_name": bank_name.strip(), "account_name": account_name.strip()}
    # (a problem is said beside the form, by its code in the address: never the number)
    if not body["bank_name"] or not body["account_name"]:
        return RedirectResponse(f"/officer/people/{person_id}?payout=missing#payout", 303)
    if not _ACCOUNT_NUMBER.match(number):
        return RedirectResponse(f"/officer/people/{person_id}?payout=number#payout", 303)
    client = voucher_client(web, session)
    try:
        await client.set_payout_account(person_id, {**body, "account_number": number})
        session.flash.append(
            ("ok", f"已登记收款账户（尾号 {number[-4:]}），现金补贴将发到这个账户。")
        )
    except ApiError as exc:
        if exc.page_status == 404:
            return _not_found(request, session)
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(f"/officer/people/{person_id}#payout", status_code=303)


# What the payout form's problem (`?payout=`) is, said beside the form.
PAYOUT_PROBLEMS = {
    "missing": "请填写开户银行和户名。",
    "number": "银行账号是 8 到 30 位数字（存折或银行卡上的号码），请核对后重新填写。",
}
