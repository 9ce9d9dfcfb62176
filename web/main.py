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

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from services.common.app import migrations_at_head
from services.common.db import Database, resolve_database_url
from services.common.errors import PayloadTooLarge
from services.common.limits import install_body_limit
from services.common.settings import CommonSettings, get_common_settings
from web.clients import Transports, make_http
from web.config import WebSettings, get_settings
from web.deps import MustDoFirst, NotSignedIn, PageForbidden, WebState
from web.render import page
from web.routes import (
    account,
    audit,
    audit_log,
    auth,
    bank_accounts,
    beneficiary,
    claims,
    dashboard,
    finance,
    officer,
    officer_programs,
    payments,
    provider,
    statements,
    users,
)
from web.service import sessions
from web.service.context import Identity, utc_now

HERE = Path(__file__).resolve().parent
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
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
    app.state.web = WebState(
        common=common,
        settings=settings,
        identity=identity,
        transports=transports,
        templates=templates,
        http=http,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

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
    async def _not_signed_in(request: Request, _: NotSignedIn) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

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
        officer,
        officer_programs,
        dashboard,
        finance,
        payments,
        statements,
        audit,
        bank_accounts,
        claims,
    ):
        app.include_router(module.router)
    return app


app = create_app()
