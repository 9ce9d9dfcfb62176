"""The web app: `uvicorn web.main:app` (`yiyang serve web`), or `create_app()` in tests.

It signs people in against its own database (`yiyang_web`: accounts, sessions, the sign-in
throttle and the audit log; see web/models.py), keeps a server-side session there, and calls
the services' HTTP APIs with a token it mints for the person. Any number of worker processes
share that database, so any of them serves any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from services.common.app import freeze_start_up_objects, migrations_at_head
from services.common.db import Database, resolve_database_url
from services.common.errors import PayloadTooLarge
from services.common.limits import install_body_limit
from services.common.settings import CommonSettings, get_common_settings
from web import labels, tables
from web.clients import Transports, make_http
from web.config import WebSettings, get_settings
from web.deps import MustDoFirst, NotSignedIn, PageForbidden, WebState
from web.render import page
from web.routes import (
    account,
    alerts,
    audit,
    audit_log,
    auth,
    bank_accounts,
    beneficiary,
    claims,
    dashboard,
    finance,
    imports,
    national,
    officer,
    officer_cards,
    officer_credit,
    officer_people,
    officer_programs,
    officer_reassess,
    payments,
    price_changes,
    price_list,
    provider,
    provider_application,
    receipts,
    statements,
    users,
    visits,
)
from web.service import sessions
from web.service.context import Identity, utc_now
from web.sessions import COOKIE_NAME

HERE = Path(__file__).resolve().parent
SIGNED_OUT = "登录已过期，请重新登录。"
BAD_INPUT = "提交的内容不正确，请返回上一页检查后再试。"
SERVER_ERROR = "系统暂时出了问题，您的操作可能没有完成。请稍后再试，或拨打 12349 求助。"
HTTP_MESSAGES = {
    400: "请求的内容不正确，请返回上一页再试。",
    403: "您的账号不能打开这个页面。",
    404: "没有找到这个页面。可能网址有误，或者内容已经不在了。",
    405: "这个页面不能这样打开，请从菜单进入。",
    413: "上传的内容太大了，请换一个小一些的文件后再试。",
    429: "操作太频繁了，请稍等一会儿再试。",
}
HTTP_TITLES = {404: "找不到页面", 405: "无法打开", 429: "请稍候"}


def _wants_json(request: Request) -> bool:
    """A page's script (fetch with the CSRF header, or asking for JSON), not a person."""
    return "x-csrf-token" in request.headers or "application/json" in request.headers.get(
        "accept", ""
    )


HOUSEKEEPING_EVERY_S = 600
log = logging.getLogger("yiyang.web")


def create_app(
    settings: WebSettings | None = None,
    common: CommonSettings | None = None,
    transports: Transports | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    settings = settings or get_settings()
    common = common or get_common_settings()
    transports = transports or Transports()
    http = {
        "voucher": make_http(common.voucher_url, transports.voucher),
        "provider": make_http(common.provider_url, transports.provider),
        "ledger": make_http(common.ledger_url, transports.ledger),
    }
    identity = Identity(settings, common.auth_private_key, clock)

    async def housekeeping(db: Database) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)
            try:
                async with db.unit_of_work() as session:
                    await sessions.housekeeping(session, identity)
            except Exception:  # the next round tries again
                log.exception("web housekeeping failed")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = await resolve_database_url("web", settings.database_url, common.data_dir)
        db = Database(url, pool_size=settings.pool_size, application_name="yiyang-web")
        await db.start()
        app.state.db = db
        task = asyncio.create_task(housekeeping(db))
        freeze_start_up_objects()
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for work in list(app.state.web.background):  # an import cut short: its job
                work.cancel()  # shows as such, and the same file imported again ends it
            for work in list(app.state.web.background):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
            for client in http.values():
                await client.aclose()
            await db.dispose()

    app = FastAPI(
        title="Yiyang web",
        description=__doc__ or "",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    labels.install(templates.env)
    tables.install(templates.env)
    app.state.web = WebState(
        common=common,
        settings=settings,
        identity=identity,
        transports=transports,
        templates=templates,
        http=http,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """Browsers ask for it on every first visit: no icon, rather than a 404 page."""
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": "web"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: the web's database answers and is at the newest migration."""
        db: Database = app.state.db
        checks = {"database": await db.ping()}
        checks["migrations"] = await migrations_at_head(db, "web") if checks["database"] else False
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "service": "web", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, _: NotSignedIn) -> Response:
        if _wants_json(request):  # a page's script: it sends the person to sign in
            answer = JSONResponse(
                {
                    "error": {
                        "code": "UNAUTHENTICATED",
                        "message": SIGNED_OUT,
                        "login": "/login?expired=1",
                    }
                },
                status_code=401,
                headers={"Cache-Control": "no-store"},
            )
            # (the sign-in afterwards comes back to the page that sent the script's call)
            auth.remember_return(request, answer, settings.secure_cookies)
            return answer
        return auth.signed_out(request, settings.secure_cookies)

    async def _header_session(request: Request) -> Any:
        """The signed-in session of the cookie, read only to draw the header and the menu
        of an error page (its messages stay for the next real page); None when there is no
        live session or the database cannot say."""
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie:
            return None
        try:
            async with request.app.state.db.unit_of_work() as db:
                session = await sessions.load(db, request.app.state.web.identity, cookie)
        except Exception:  # an error page must never fail for want of its header
            log.warning("error page: the session could not be read for the header")
            return None
        if session is not None:
            session.flash = []
        return session

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """404, 405 and the like: a page in plain words with a way back, never JSON."""
        message = HTTP_MESSAGES.get(exc.status_code, "无法完成这个请求。")
        if _wants_json(request):
            return JSONResponse(
                {"error": {"code": f"HTTP_{exc.status_code}", "message": message}},
                status_code=exc.status_code,
            )
        session = getattr(request.state, "web_session", None)
        if session is None:  # no route ran (an unknown address): the header still shows
            session = await _header_session(request)  # who is signed in, with the menu
        response = page(
            request,
            "error.html",
            session,
            status_code=exc.status_code,
            message=message,
            title=HTTP_TITLES.get(exc.status_code, "无法完成"),
        )
        for name, value in (exc.headers or {}).items():  # e.g. 405's Allow
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        session = getattr(request.state, "web_session", None)
        return page(
            request, "error.html", session, status_code=422, message=BAD_INPUT, title="无法完成"
        )

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        """Anything unforeseen: the person reads that it failed and what to do, in Chinese
        (the exception is logged by the server as usual, without personal data)."""
        if _wants_json(request):
            return JSONResponse(
                {"error": {"code": "INTERNAL_ERROR", "message": SERVER_ERROR}}, status_code=500
            )
        return page(
            request, "error.html", None, status_code=500, message=SERVER_ERROR, title="出错了"
        )

    @app.exception_handler(MustDoFirst)
    async def _must_do_first(request: Request, exc: MustDoFirst) -> RedirectResponse:
        return RedirectResponse(exc.path, status_code=303)

    too_large = "上传的内容太大了，请换一个小一些的文件后再试。"

    def _too_large(_: PayloadTooLarge, scope: Scope) -> Response:
        return page(Request(scope), "error.html", None, status_code=413, message=too_large)

    install_body_limit(
        app,
        max_body_bytes=common.max_body_bytes,
        max_upload_bytes=common.max_upload_bytes,
        refuse=_too_large,
    )

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        session = getattr(request.state, "web_session", None)
        return page(request, "error.html", session, status_code=403, message=exc.message)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        )
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for module in (
        auth,
        account,
        users,
        audit_log,
        beneficiary,
        provider,
        provider_application,
        officer,
        officer_people,
        officer_cards,
        officer_credit,
        officer_reassess,
        officer_programs,
        imports,
        dashboard,
        national,
        finance,
        payments,
        statements,
        audit,
        bank_accounts,
        price_changes,
        price_list,
        claims,
        receipts,
        visits,
        alerts,
    ):
        app.include_router(module.router)
    return app


app = create_app()
