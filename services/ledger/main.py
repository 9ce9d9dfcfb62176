"""The ledger service app: `uvicorn services.ledger.main:app` or `create_app()` in tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.common.shards import ProvinceRouter, province_apps
from services.ledger.api import router
from services.ledger.config import LedgerSettings, get_settings
from services.ledger.service import audit, checkpoints, snapshots


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def database() -> Database:
        url = await resolve_database_url(
            "ledger", settings.database_url, get_common_settings().data_dir
        )
        # The raw pool serves the relay's event batches (repository/posting.py); the engine's
        # sessions every other request (audit reads, keyed writes, settlement).
        return Database(
            url,
            pool_size=max(2, settings.pool_size // 2),
            raw_pool_size=settings.pool_size,
            application_name="yiyang-ledger",
        )

    async def start_checkpoints(app: FastAPI) -> None:
        """Signed checkpoints of the head every `checkpoint_interval_s` (service/checkpoints.py)."""
        if settings.checkpoint_interval_s > 0:
            app.state.checkpoint_task = asyncio.create_task(
                checkpoints.checkpoint_forever(app.state.db, settings), name="ledger-checkpoints"
            )
        if settings.snapshot_interval_s > 0:
            app.state.snapshot_task = asyncio.create_task(
                snapshots.snapshot_forever(app.state.db, settings.snapshot_interval_s),
                name="ledger-snapshots",
            )

    async def stop_checkpoints(app: FastAPI) -> None:
        for name in ("checkpoint_task", "snapshot_task"):
            task = getattr(app.state, name, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    app = create_service_app(
        name="ledger",
        title="Yiyang ledger service",
        description=__doc__ or "",
        database=database,
        routers=[router],
        on_startup=[start_checkpoints],
        on_shutdown=[stop_checkpoints],
    )
    app.state.settings = settings

    async def delivery_lag() -> dict[str, Any]:
        try:
            return {"ok": True, **await audit.delivery_lag(app.state.db)}
        except Exception:
            return {"ok": False}

    app.state.readiness_checks = {"event_delivery": delivery_lag}
    return app


def create_service(settings: LedgerSettings | None = None) -> FastAPI | ProvinceRouter:
    """What `uvicorn services.ledger.main:app` serves: the app on its one database, or with
    `YIYANG_LEDGER_SHARDS` one app per province behind the province router
    (docs/shards.md)."""
    settings = settings or get_settings()
    if not settings.shards:
        return create_app(settings)
    return ProvinceRouter("ledger", province_apps(settings, create_app))


app = create_service()
