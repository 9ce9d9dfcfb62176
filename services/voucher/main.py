"""The voucher service app: `uvicorn services.voucher.main:app` or `create_app()` in tests."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.voucher.api import router
from services.voucher.config import VoucherSettings, get_settings


def create_app(settings: VoucherSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def database() -> Database:
        url = await resolve_database_url("voucher", settings.database_url,
                                         get_common_settings().data_dir)
        return Database(url, pool_size=settings.pool_size, application_name="yiyang-voucher")

    app = create_service_app(
        name="voucher",
        title="Yiyang voucher service",
        description=__doc__ or "",
        database=database,
        routers=[router],
    )
    app.state.settings = settings
    return app


app = create_app()
