"""The shape every service app shares: lifespan with its database, health, errors, auth."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from services.common.db import Database
from services.common.errors import install_error_handlers
from services.common.limits import install_body_limit
from services.common.openapi import document_refusals
from services.common.settings import get_common_settings

Hook = Callable[[FastAPI], Awaitable[None]]


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    database: Callable[[], Awaitable[Database]],
    routers: Sequence[APIRouter],
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    auth_public_key: str | None = None,
) -> FastAPI:
    """Build a service: its routers, `/healthz`, `/readyz`, error handlers and lifespan.

    `database` is called at start-up, so tests can point the same app at their own database.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await database()
        await db.start()
        app.state.db = db
        try:
            for hook in on_startup:
                await hook(app)
            freeze_start_up_objects()
            yield
        finally:
            for hook in on_shutdown:
                await hook(app)
            await db.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        # No OpenTelemetry here: with it on, FastAPI asks the global tracer, meter and logger
        # providers on every request whether one is configured (about 8 us of CPU a request,
        # docs/performance.md "The hot path at a third of the limit").
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service_name = name
    app.state.auth_public_key = auth_public_key or get_common_settings().auth_public_key
    install_error_handlers(app)
    common = get_common_settings()
    install_body_limit(
        app, max_body_bytes=common.max_body_bytes, max_upload_bytes=common.max_upload_bytes
    )

    @app.get("/healthz", tags=["health"], include_in_schema=True)
    async def healthz() -> dict[str, Any]:
        """Liveness: the process answers. No authentication, no database."""
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Readiness: the database answers and its schema is at the newest migration."""
        db: Database = app.state.db
        checks: dict[str, Any] = {"database": await db.ping()}
        checks["migrations"] = await migrations_at_head(db, name) if checks["database"] else False
        extra = getattr(app.state, "readiness_checks", {})
        for key, check in extra.items():
            checks[key] = await check()
        ok = all(bool(v) if not isinstance(v, dict) else v.get("ok", True) for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "service": name, "checks": checks},
            status_code=200 if ok else 503,
        )

    for router in routers:
        app.include_router(router)
    document_refusals(app)
    return app


def freeze_start_up_objects() -> None:
    """Move what start-up built (modules, routes, models, pools: some 170,000 objects in the
    voucher service) out of the cyclic garbage collector's reach, once it has collected what
    start-up threw away. A full collection walked all of them, about 90 ms during which the
    process answers nothing: the p99 of a busy service. Objects made afterwards are collected
    as before. Off where `freeze_gc_at_start` is false (the tests)."""
    if get_common_settings().freeze_gc_at_start:
        gc.collect()
        gc.freeze()


async def migrations_at_head(db: Database, service: str) -> bool:
    """Whether `db` is migrated to exactly the newest revision(s) of `service`'s Alembic
    scripts (`services.common.migrate.DATABASES`: "voucher", "provider", "ledger", "web").

    The readiness check of every app (each service's `/readyz` here, the web's in
    web/main.py): a process whose database is behind, ahead or not migrated at all is not
    ready. False also when the database cannot be read.
    """
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from services.common.migrate import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config(service, db.url)).get_heads())
    try:
        async with db.engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
    except Exception:
        return False
    return set(current) == heads
