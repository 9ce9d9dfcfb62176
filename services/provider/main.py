"""The provider service app: `uvicorn services.provider.main:app` or `create_app()` in tests."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.auth import Principal
from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.provider import errors as provider_errors
from services.provider import service as provider_service
from services.provider.api.providers import router
from services.provider.config import ProviderSettings, get_settings

DESCRIPTION = """Registry of the providers who accept Yiyang vouchers: applications, the status
workflow and credit record, price lists, terminals, nearby search, and the directory feed the
voucher service polls.

Errors are `{"error": {"code", "message", "field"}}`; the codes:

""" + (provider_errors.__doc__ or "").split("\n", 2)[2]


def create_app(settings: ProviderSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def database() -> Database:
        url = await resolve_database_url(
            "provider", settings.database_url, get_common_settings().data_dir
        )
        return Database(url, pool_size=settings.pool_size, application_name="yiyang-provider")

    async def install_terminal_resolver(app: FastAPI) -> None:
        db: Database = app.state.db

        async def resolve(secret: str) -> Principal | None:
            async with db.sessionmaker() as session:
                return await provider_service.terminal_principal(session, secret)

        app.state.terminal_resolver = resolve

    app = create_service_app(
        name="provider",
        title="Yiyang provider service",
        description=DESCRIPTION,
        database=database,
        routers=[router],
        on_startup=[install_terminal_resolver],
    )
    app.state.settings = settings
    return app


app = create_app()
