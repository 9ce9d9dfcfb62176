"""Sign-in (password, then a code for those who need one), sign-out, sign-out everywhere.
The web app is the identity provider for people."""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.deps import (
    CsrfSignedIn,
    DbSession,
    RequestSession,
    StateDep,
    WebState,
    client_address,
    optional_session,
)
from web.render import home_of, page
from web.service import sessions, signin
from web.service.throttle import wait_words
from web.sessions import COOKIE_NAME

router = APIRouter()
LOGIN_CSRF_COOKIE = "yiyang_login_csrf"
# Where a person whose session ended was (a page of ours): sign-in goes back there.
RETURN_COOKIE = "yiyang_return_to"
_RETURN_PATH = re.compile(r"^/(?!/)[A-Za-z0-9/_.\-]*(\?[A-Za-z0-9_.\-=&%]*)?$")
EXPIRED = "为了安全，登录已过期，请重新登录。登录后会回到刚才的页面。"


def _return_path(text: str | None) -> str | None:
    """A page of ours to go back to, or None (another site, the sign-in pages, anything odd:
    the home page then)."""
    if not text or len(text) > 300 or not _RETURN_PATH.match(text):
        return None
    return None if text.startswith(("/login", "/logout", "/static")) else text


def signed_out(request: Request, secure: bool) -> Response:
    """The answer to a request whose session has ended (or never was): the sign-in page,
    saying the session expired when the browser still had one, and coming back afterwards
    to the page the person was on (`remember_return`)."""
    # (a cookie whose session is gone: expired; one still loaded is half signed in, its code
    # not yet given: no "expired" for that)
    loaded = getattr(request.state, "web_session", None)
    had_session = bool(request.cookies.get(COOKIE_NAME)) and loaded is None
    response = RedirectResponse("/login?expired=1" if had_session else "/login", status_code=303)
    remember_return(request, response, secure)
    return response


def remember_return(request: Request, response: Response, secure: bool) -> None:
    """Note on `response` the page to come back to after signing in: the page asked for, or
    for a form or a page's script, the page that sent it (our own paths only)."""
    if request.method == "GET":
        here: str | None = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        referer = urlsplit(request.headers.get("referer") or "")
        same = referer.netloc in ("", request.url.netloc)
        here = referer.path + (f"?{referer.query}" if referer.query else "") if same else None
    back = _return_path(here)
    if back:
        response.set_cookie(
            RETURN_COOKIE,
            back,
            max_age=1800,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/login",
        )


def _signed_in(request: Request, web: WebState, home: str, cookie: str) -> RedirectResponse:
    """Signed in: back to the page the person was on when the last session ended, if any,
    else their home page."""
    response = RedirectResponse(
        _return_path(request.cookies.get(RETURN_COOKIE)) or home, status_code=303
    )
    response.delete_cookie(RETURN_COOKIE, path="/login")
    _set_session_cookie(response, web, cookie, web.settings.session_ttl_s)
    return response


@router.get("/", response_class=HTMLResponse)
async def index(session: RequestSession) -> RedirectResponse:
    """Send a signed-in person to their home page, anyone else to sign in."""
    signed = optional_session(session)
    return RedirectResponse(
        home_of(signed.role, signed.region, "/login") if signed else "/login", 303
    )


def _login_page(
    request: Request, web: WebState, status_code: int = 200, **context: Any
) -> Response:
    """The sign-in form with a fresh double-submit CSRF token (there is no session yet),
    so another site cannot sign a person in to an account of its choosing."""
    token = secrets.token_urlsafe(24)
    response = page(
        request, "login.html", None, status_code=status_code, login_csrf=token, **context
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        secure=web.settings.secure_cookies,
        samesite="strict",
        path="/login",
    )
    return response


def _set_session_cookie(response: Response, web: WebState, cookie: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=max_age,
        httponly=True,
        secure=web.settings.secure_cookies,
        samesite="strict",
        path="/",
    )


def _clear_session_cookie(response: Response, web: WebState) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, secure=web.settings.secure_cookies, samesite="strict"
    )


def _csrf_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(sent, expected)


def _wait_message(wait_s: int) -> str:
    return (
        f"输错的次数太多，为了保护账号，请等 {wait_words(wait_s)}后再试。"
        "如果忘了密码，请联系账号管理员重置。"
    )


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, web: StateDep) -> Response:
    """The sign-in form (saying why, when a session has just expired)."""
    expired = request.query_params.get("expired") == "1"
    return _login_page(request, web, notice=EXPIRED if expired else None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: RequestSession,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the password (after the throttle); then a second step for those who sign in
    with a code, or straight to their home page."""
    shown = username[:64]
    if not _csrf_ok(request, csrf_token):
        return _login_page(
            request, web, status_code=403, username=shown, error="页面已过期，请重新输入后登录。"
        )
    if not username.strip() or not password:
        return _login_page(
            request, web, status_code=401, username=shown, error="用户名或密码不对，请再试一次。"
        )
    address = client_address(request)
    outcome = await signin.with_password(db, web.identity, username, password[:256], address)
    if outcome.kind == "wait":
        return _login_page(
            request, web, status_code=429, username=shown, error=_wait_message(outcome.wait_s)
        )
    if outcome.kind != "ok" or outcome.cookie is None or outcome.user is None:
        return _login_page(
            request, web, status_code=401, username=shown, error="用户名或密码不对，请再试一次。"
        )
    if session is not None:  # whoever was signed in in this browser is signed out
        await sessions.end(db, web.identity, session, address)
    response: Response
    if outcome.second_factor:
        response = RedirectResponse("/login/code", status_code=303)
        _set_session_cookie(
            response, web, outcome.cookie, int(sessions.PENDING_TTL.total_seconds())
        )
    else:
        response = _signed_in(
            request, web, home_of(outcome.user.role, outcome.user.region), outcome.cookie
        )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _code_page(request: Request, web: WebState, csrf: str, status_code: int = 200, **ctx: Any):
    return page(request, "login_code.html", None, status_code=status_code, csrf=csrf, **ctx)


@router.get("/login/code", response_class=HTMLResponse)
async def code_form(request: Request, web: StateDep, session: RequestSession) -> Response:
    """The second step: the six-digit code from the authenticator app (or a recovery code)."""
    if session is None or not session.mfa_pending:
        return RedirectResponse("/login", status_code=303)
    return _code_page(request, web, session.csrf)


@router.post("/login/code", response_class=HTMLResponse)
async def code(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: RequestSession,
    code: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the code; a right one replaces the waiting session with a signed-in one."""
    if session is None or not session.mfa_pending:
        return RedirectResponse("/login", status_code=303)
    if not hmac.compare_digest(csrf_token, session.csrf):
        return _code_page(
            request, web, session.csrf, status_code=403, error="页面已过期，请重新输入。"
        )
    outcome = await signin.with_code(db, web.identity, session, code[:32], client_address(request))
    if outcome.kind == "wait":
        return _code_page(
            request, web, session.csrf, status_code=429, error=_wait_message(outcome.wait_s)
        )
    if outcome.kind == "restart":
        response = _login_page(
            request, web, status_code=401, error="验证码输错太多次，请重新输入用户名和密码。"
        )
        _clear_session_cookie(response, web)
        return response
    if outcome.kind != "ok" or outcome.cookie is None or outcome.user is None:
        return _code_page(
            request,
            web,
            session.csrf,
            status_code=401,
            error="验证码不对或已经用过，请看手机上最新的 6 位数字再试。",
        )
    return _signed_in(request, web, home_of(outcome.user.role, outcome.user.region), outcome.cookie)


@router.post("/logout")
async def logout(
    request: Request, web: StateDep, db: DbSession, session: CsrfSignedIn
) -> RedirectResponse:
    """End this session, on the server and in the browser."""
    await sessions.end(db, web.identity, session, client_address(request))
    response = RedirectResponse("/login", status_code=303)
    _clear_session_cookie(response, web)
    return response


@router.post("/logout/everywhere")
async def logout_everywhere(
    request: Request, web: StateDep, db: DbSession, session: CsrfSignedIn
) -> RedirectResponse:
    """End every session of the account, on every phone and computer, this one included."""
    await sessions.end_everywhere(db, web.identity, session, client_address(request))
    response = RedirectResponse("/login", status_code=303)
    _clear_session_cookie(response, web)
    return response
