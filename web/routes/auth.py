"""Sign-in and sign-out. The web app is the identity provider for people."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import issue_token
from web.deps import CsrfSession, StateDep, optional_session
from web.render import HOME, page
from web.sessions import COOKIE_NAME

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> RedirectResponse:
    """Send a signed-in person to their home page, anyone else to sign in."""
    session = optional_session(request)
    return RedirectResponse(HOME.get(session.role, "/login") if session else "/login", 303)


LOGIN_CSRF_COOKIE = "yiyang_login_csrf"


def _login_page(request: Request, web: Any, status_code: int = 200, **context: Any) -> Response:
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


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, web: StateDep) -> Response:
    """The sign-in form."""
    return _login_page(request, web)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    web: StateDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the password, mint the person's token, keep it in a new server-side session."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token, expected):
        return _login_page(
            request,
            web,
            status_code=403,
            username=username[:64],
            error="页面已过期，请重新输入后登录。",
        )
    if username and web.throttle.blocked(username):
        return _login_page(
            request,
            web,
            status_code=429,
            username=username[:64],
            error="密码错误次数太多，请 15 分钟后再试，或联系管理员。",
        )
    account = web.accounts.authenticate(username, password) if username and password else None
    if account is None:
        if username:
            web.throttle.failed(username)
        return _login_page(
            request,
            web,
            status_code=401,
            username=username[:64],
            error="用户名或密码不对，请再试一次。",
        )
    web.throttle.succeeded(username)
    token = issue_token(
        web.common.auth_private_key,
        role=account.role,
        sub=f"web:{account.username}",
        region=account.region,
        provider_id=account.provider_id,
        beneficiary_ids=tuple(account.beneficiary_ids),
        name=account.display_name,
        ttl_s=min(web.common.access_token_ttl_s, web.settings.session_ttl_s),
    )
    old = optional_session(request)
    if old is not None:
        web.sessions.delete(old)
    session = web.sessions.create(
        username=account.username,
        role=account.role,
        display_name=account.display_name,
        token=token,
        region=account.region,
        provider_id=account.provider_id,
        beneficiary_ids=list(account.beneficiary_ids),
        acting_for=account.beneficiary_ids[0] if account.beneficiary_ids else None,
    )
    response = RedirectResponse(HOME.get(account.role, "/"), status_code=303)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    response.set_cookie(
        COOKIE_NAME,
        web.sessions.cookie_value(session),
        max_age=web.settings.session_ttl_s,
        httponly=True,
        secure=web.settings.secure_cookies,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(web: StateDep, session: CsrfSession) -> RedirectResponse:
    """Forget the session on the server and in the browser."""
    web.sessions.delete(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, secure=web.settings.secure_cookies, samesite="strict"
    )
    return response
