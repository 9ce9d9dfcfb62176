"""The provider service app: `uvicorn services.provider.main:app` or `create_app()` in tests."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.auth import Principal
from services.common.db import Database, resolve_database_url
from services.common.errors import catalogue
from services.common.settings import get_common_settings
from services.common.shards import ProvinceRouter, province_apps
from services.provider import errors as provider_errors
from services.provider.api import router
from services.provider.config import ProviderSettings, get_settings
from services.provider.service import terminals

DESCRIPTION = (
    """Registry of the providers who accept Yiyang vouchers: applications, the status
workflow and credit record, price lists, terminals, nearby search, and the directory feed the
voucher service polls.

Errors are `{"error": {"code", "message", "field"}}`; the codes of this service (those every
service answers, VALIDATION_ERROR, ROLE_NOT_ALLOWED, OUT_OF_SCOPE, UNAUTHENTICATED, are in
docs/errors.md):

| code | status | meaning |
| --- | --- | --- |
"""
    + "\n".join(f"| {e.code} | {e.status} | {e.meaning} |" for e in catalogue(provider_errors))
    + "\n"
)


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
            async with db.unit_of_work(readonly=True) as session:
                return await terminals.terminal_principal(session, secret)

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


def create_service(settings: ProviderSettings | None = None) -> FastAPI | ProvinceRouter:
    """What `uvicorn services.provider.main:app` serves: the app on its one database, or with
    `YIYANG_PROVIDER_SHARDS` one app per province behind the province router
    (docs/shards.md)."""
    settings = settings or get_settings()
    if not settings.shards:
        return create_app(settings)
    return ProvinceRouter("provider", province_apps(settings, create_app))


app = create_service()
