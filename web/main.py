"""The web app: `uvicorn web.main:app` (`yiyang serve web`), or `create_app()` in tests.

It holds no database: it signs people in against its account store, keeps their token in a
server-side session, and calls the services' HTTP APIs with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from services.common.errors import PayloadTooLarge
from services.common.limits import install_body_limit
from services.common.settings import CommonSettings, get_common_settings
from web.accounts import AccountStore
from web.clients import Transports, make_http
from web.config import WebSettings, get_settings
from web.deps import NotSignedIn, PageForbidden, WebState
from web.render import page
from web.routes import (
    audit,
    auth,
    bank_accounts,
    beneficiary,
    claims,
    finance,
    officer,
    payments,
    provider,
    statements,
)
from web.sessions import LoginThrottle, SessionStore

HERE = Path(__file__).resolve().parent


def create_app(
    settings: WebSettings | None = None,
    common: CommonSettings | None = None,
    transports: Transports | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    common = common or get_common_settings()
    transports = transports or Transports()
    http = {
        "voucher": make_http(common.voucher_url, transports.voucher),
        "provider": make_http(common.provider_url, transports.provider),
        "ledger": make_http(common.ledger_url, transports.ledger),
    }

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for client in http.values():
            await client.aclose()

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
        accounts=AccountStore(settings.accounts_path),
        sessions=SessionStore(settings.session_secret, settings.session_ttl_s),
        transports=transports,
        templates=templates,
        throttle=LoginThrottle(),
        http=http,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": "web"}

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, _: NotSignedIn) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

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
        from web.deps import optional_session

        return page(
            request, "error.html", optional_session(request), status_code=403, message=exc.message
        )

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
        beneficiary,
        provider,
        officer,
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
