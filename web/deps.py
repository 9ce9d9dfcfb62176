"""What every page needs: the app's state, the signed-in session, role checks, CSRF, clients."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from services.common.auth import Role
from services.common.settings import CommonSettings
from web.accounts import AccountStore
from web.clients import LedgerClient, ProviderClient, TerminalClient, Transports, VoucherClient
from web.config import WebSettings
from web.sessions import COOKIE_NAME, LoginThrottle, Session, SessionStore


@dataclass
class WebState:
    common: CommonSettings
    settings: WebSettings
    accounts: AccountStore
    sessions: SessionStore
    transports: Transports
    templates: Jinja2Templates
    throttle: LoginThrottle
    # One connection pool per service, opened with the app and closed at shutdown.
    http: dict[str, httpx.AsyncClient]


class NotSignedIn(Exception):
    """Rendered as a redirect to the sign-in page."""


class PageForbidden(Exception):
    """Rendered as a 403 page in plain words."""

    def __init__(self, message: str = "您的账号不能打开这个页面。") -> None:
        self.message = message


def state(request: Request) -> WebState:
    return request.app.state.web


StateDep = Annotated[WebState, Depends(state)]


def optional_session(request: Request) -> Session | None:
    web = state(request)
    return web.sessions.load(request.cookies.get(COOKIE_NAME))


def current_session(request: Request) -> Session:
    session = optional_session(request)
    if session is None:
        raise NotSignedIn()
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def require_role(*roles: Role) -> Any:
    allowed = {r.value for r in roles}

    def _dep(session: SessionDep) -> Session:
        if session.role not in allowed:
            raise PageForbidden()
        return session

    return Depends(_dep)


async def check_csrf(request: Request, session: SessionDep) -> Session:
    """Every state-changing request carries the session's CSRF token, in the form field
    `csrf_token` or (for the small scripts) the `X-CSRF-Token` header."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise PageForbidden("页面已过期，请返回上一页刷新后再提交。")
    return session


CsrfSession = Annotated[Session, Depends(check_csrf)]


def voucher_client(web: WebState, session: Session) -> VoucherClient:
    return VoucherClient(web.common.voucher_url, session.token, http=web.http["voucher"])


def provider_client(web: WebState, session: Session) -> ProviderClient:
    return ProviderClient(web.common.provider_url, session.token, http=web.http["provider"])


def ledger_client(web: WebState, session: Session) -> LedgerClient:
    return LedgerClient(web.common.ledger_url, session.token, http=web.http["ledger"])


def terminal_client(web: WebState, session: Session) -> TerminalClient | None:
    account = web.accounts.get(session.username)
    if account is None or not account.terminal_secret:
        return None
    return TerminalClient(web.common.voucher_url, account.terminal_secret, http=web.http["voucher"])
