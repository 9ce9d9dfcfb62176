"""What every page needs: the app's state, the database session, the signed-in session, role
checks, CSRF, clients.

One request, one transaction on the web's database (`DbSession`, committed before the
response is sent, like every service's `SessionDep`). The signed-in session is read from it
once per request; a change a page makes to the session (a flash message, who a proxy acts
for) is written back in the same transaction.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from services.common.db import get_session
from services.common.settings import CommonSettings
from web.clients import LedgerClient, ProviderClient, TerminalClient, Transports, VoucherClient
from web.config import WebSettings
from web.service import accounts, sessions
from web.service.context import Identity
from web.sessions import COOKIE_NAME, Session


@dataclass
class WebState:
    common: CommonSettings
    settings: WebSettings
    identity: Identity
    transports: Transports
    templates: Jinja2Templates
    # One connection pool per service, opened with the app and closed at shutdown.
    http: dict[str, httpx.AsyncClient]
    # Work left running after its request answered (imports), cancelled at shutdown.
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the answer is sent, keeping a reference until it ends."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


class NotSignedIn(Exception):
    """Rendered as a redirect to the sign-in page."""


class MustDoFirst(Exception):
    """Signed in, but owes something first (a new password, two-factor enrolment): rendered
    as a redirect to the page where it is done."""

    def __init__(self, path: str) -> None:
        self.path = path


class PageForbidden(Exception):
    """Rendered as a 403 page in plain words."""

    def __init__(self, message: str = "您的账号不能打开这个页面。") -> None:
        self.message = message


def state(request: Request) -> WebState:
    return request.app.state.web


StateDep = Annotated[WebState, Depends(state)]
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_address(request: Request) -> str:
    """The person's address (uvicorn takes it from the proxy's X-Forwarded-For when the
    proxy is trusted: `--forwarded-allow-ips`, 127.0.0.1 by default)."""
    return (request.client.host if request.client else "") or "unknown"


async def _request_session(request: Request, db: DbSession) -> AsyncIterator[Session | None]:
    web = state(request)
    session = await sessions.load(db, web.identity, request.cookies.get(COOKIE_NAME))
    request.state.web_session = session
    before = session.state() if session is not None else None
    yield session
    if session is not None and session.state() != before:
        await sessions.save_state(db, session)


RequestSession = Annotated[Session | None, Depends(_request_session, scope="function")]


def optional_session(session: RequestSession) -> Session | None:
    """The signed-in session if there is one (a session still waiting for its second factor
    is not one)."""
    return session if session is not None and not session.mfa_pending else None


def signed_in(session: RequestSession) -> Session:
    """Signed in, possibly still owing a new password or two-factor enrolment (the pages
    where those are done, and sign-out, take this)."""
    if session is None or session.mfa_pending:
        raise NotSignedIn()
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


def current_session(session: SignedIn) -> Session:
    """Signed in and free to use the pages: anything owed is done first."""
    if session.must_change_password:
        raise MustDoFirst("/account/password")
    if session.needs_totp_enrolment:
        raise MustDoFirst("/account/totp")
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def require_role(*roles: Role | str) -> Any:
    allowed = {r.value if isinstance(r, Role) else r for r in roles}

    def _dep(session: SessionDep) -> Session:
        if session.role not in allowed:
            raise PageForbidden()
        return session

    return Depends(_dep)


async def _check_csrf(request: Request, session: Session) -> Session:
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise PageForbidden("页面已过期，请返回上一页刷新后再提交。")
    return session


async def check_csrf(request: Request, session: SessionDep) -> Session:
    """Every state-changing request carries the session's CSRF token, in the form field
    `csrf_token` or (for the small scripts) the `X-CSRF-Token` header."""
    return await _check_csrf(request, session)


async def check_csrf_signed_in(request: Request, session: SignedIn) -> Session:
    """The same, for the forms a person who still owes something may send (sign-out, a new
    password, two-factor enrolment)."""
    return await _check_csrf(request, session)


CsrfSession = Annotated[Session, Depends(check_csrf)]
CsrfSignedIn = Annotated[Session, Depends(check_csrf_signed_in)]


def voucher_client(web: WebState, session: Session) -> VoucherClient:
    return VoucherClient(web.common.voucher_url, session.token, http=web.http["voucher"])


def provider_client(web: WebState, session: Session) -> ProviderClient:
    return ProviderClient(web.common.provider_url, session.token, http=web.http["provider"])


def ledger_client(web: WebState, session: Session) -> LedgerClient:
    return LedgerClient(web.common.ledger_url, session.token, http=web.http["ledger"])


async def terminal_client(
    web: WebState, db: AsyncSession, session: Session
) -> TerminalClient | None:
    """The staff account's terminal (its secret, decrypted for this request), if it has one."""
    secret = await accounts.terminal_secret(db, web.identity, session.user_id)
    if not secret:
        return None
    return TerminalClient(web.common.voucher_url, secret, http=web.http["voucher"])
