"""The provider service app: `uvicorn services.provider.main:app` or `create_app()` in tests."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.provider.api import router
from services.provider.config import ProviderSettings, get_settings


def create_app(settings: ProviderSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def database() -> Database:
        url = await resolve_database_url("provider", settings.database_url,
                                         get_common_settings().data_dir)
        return Database(url, pool_size=settings.pool_size, application_name="yiyang-provider")

    app = create_service_app(
        name="provider",
        title="Yiyang provider service",
        description=__doc__ or "",
        database=database,
        routers=[router],
    )
    app.state.settings = settings
    return app


app = create_app()
