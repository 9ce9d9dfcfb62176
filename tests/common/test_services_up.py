"""Each service starts on its own migrated database and answers health, readiness, OpenAPI."""

import importlib

import pytest

from tests.conftest import running


@pytest.mark.parametrize("service", ["voucher", "provider", "ledger"])
async def test_service_is_healthy_ready_and_publishes_openapi(service, make_db):
    db = await make_db(service)
    main = importlib.import_module(f"services.{service}.main")
    config = importlib.import_module(f"services.{service}.config")
    settings_cls = next(
        v for k, v in vars(config).items() if k.endswith("Settings") and k != "BaseSettings"
    )
    app = main.create_app(settings_cls(database_url=db.app_url))
    async with running(app) as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["migrations"] is True
        spec = (await client.get("/openapi.json")).json()
        assert spec["info"]["title"] == f"Yiyang {service} service"
    # Every operation but health lists the refusals it can answer, with the error schema.
    for path, item in spec["paths"].items():
        if path in ("/healthz", "/readyz"):
            continue
        for method, op in item.items():
            wanted = {"401", "403", "422"}
            wanted |= {"404"} if "{" in path else set()
            wanted |= {"413"} if "requestBody" in op else set()
            wanted |= {"409"} if method in ("post", "put", "patch", "delete") else set()
            assert wanted <= set(op["responses"]), (method, path, sorted(op["responses"]))
            for status in wanted:
                answer = op["responses"][status]
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
            assert "ROLE_NOT_ALLOWED" in op["responses"]["403"]["description"]
            assert "UNAUTHENTICATED" in op["responses"]["401"]["description"]


async def test_readiness_fails_when_the_database_is_not_migrated(make_db, pg_admin_url):
    from services.common.migrate import drop_database, ensure_database
    from services.voucher.config import VoucherSettings
    from services.voucher.main import create_app

    url = await ensure_database(pg_admin_url, "yt_unmigrated_probe")
    try:
        app = create_app(VoucherSettings(database_url=url))
        async with running(app) as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["migrations"] is False
    finally:
        await drop_database(pg_admin_url, "yt_unmigrated_probe")


async def test_migrations_at_head_is_what_readiness_asks(make_db, pg_admin_url):
    """`services.common.app.migrations_at_head`, the readiness check of every app and of the
    web: True on a database at the newest revision, False on one never migrated."""
    from services.common.app import migrations_at_head
    from services.common.db import Database
    from services.common.migrate import drop_database, ensure_database

    migrated = await make_db("web")
    bare = await ensure_database(pg_admin_url, "yt_unmigrated_web_probe")
    try:
        for url, expected in ((migrated.app_url, True), (bare, False)):
            db = Database(url, pool_size=1)
            try:
                assert await migrations_at_head(db, "web") is expected
            finally:
                await db.dispose()
    finally:
        await drop_database(pg_admin_url, "yt_unmigrated_web_probe")
