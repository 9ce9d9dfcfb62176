"""Creating each database and bringing it to the newest migration.

Each service, and the web app (its accounts, sessions and sign-in log), owns its own
database, `yiyang_<name>`, and keeps its Alembic scripts beside its models: the package of
`package(name)` (`services.<name>` for a service, `web` for the web app) holds `models.py`
and `migrations/`. Migrations run as the database owner; the process itself connects as a
separate role, `yiyang_<name>_app`, that may read and write its tables but may only INSERT
into and SELECT from the tables its models declare append-only (the ledger's journal, the
web's audit log).
After every upgrade the grants are brought up to date, so a new table is never left without
them, and an append-only table never gains UPDATE or DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import asyncpg
from alembic.config import Config
from sqlalchemy import MetaData

from services.common.db import asyncpg_connect_kwargs, database_of, with_database, with_user

log = logging.getLogger("yiyang.migrate")

SERVICES = ("voucher", "provider", "ledger")
# Every database `yiyang up` / `yiyang migrate` prepares: the three services' and the web's.
DATABASES = (*SERVICES, "web")
ROOT = Path(__file__).resolve().parents[2]


def package(name: str) -> str:
    """The Python package whose `models.py` and `migrations/` define database `name`."""
    if name not in DATABASES:
        raise ValueError(f"unknown database {name!r}; one of {', '.join(DATABASES)}")
    return "web" if name == "web" else f"services.{name}"


def package_dir(name: str) -> Path:
    return ROOT.joinpath(*package(name).split("."))


def migrations_dir(name: str) -> Path:
    return package_dir(name) / "migrations"


def app_role(service: str) -> str:
    return f"yiyang_{service}_app"


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(service)))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str, revision: str = "heads") -> None:
    """Run `alembic upgrade` for one database (blocking: call from a thread inside a loop)."""
    from alembic import command

    command.upgrade(alembic_config(service, url), revision)


def downgrade(service: str, url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(service, url), revision)


def service_metadata(service: str) -> MetaData:
    """The complete metadata of a database: the tables of `<package>/models.py` (services/<name>/
    or web/) and of every module its `TABLE_MODULES` names (tables declared elsewhere on the same metadata,
    such as the ledger's settlement tables, which import the models module and so cannot be
    imported by it). The migrations and the drift check both start from this."""
    import importlib

    models = importlib.import_module(f"{package(service)}.models")
    for name in getattr(models, "TABLE_MODULES", ()):
        importlib.import_module(name)
    metadata: MetaData = models.metadata
    return metadata


async def model_drift(service: str, url: str) -> list[str]:
    """What `alembic revision --autogenerate` would write for a database at head: the ways the
    SQLModel tables of `<package>/models.py` differ from what the migrations built.

    Empty when the models are the one true definition of the tables. The test command runs this
    for every database (tests/common/test_models_match_migrations.py), like `alembic check`.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import pool
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.common.alembic_env import COMPARE_OPTIONS
    from services.common.db import sqlalchemy_url

    metadata = service_metadata(service)
    kwargs = asyncpg_connect_kwargs(url)
    connect_args = {"host": kwargs["host"]} if "host" in kwargs else {}
    engine = create_async_engine(
        sqlalchemy_url(kwargs["dsn"]), poolclass=pool.NullPool, connect_args=connect_args
    )
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts=dict(COMPARE_OPTIONS)), metadata
                )
            )
    finally:
        await engine.dispose()
    return [repr(d) for d in diffs]


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**asyncpg_connect_kwargs(url))


async def ensure_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Create database `name` on the server of `admin_url` if it does not exist; return its URL."""
    conn = await _connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            tmpl = f' TEMPLATE "{template}"' if template else ""
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await _connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def ensure_role(admin_url: str, role: str) -> None:
    conn = await _connect(admin_url)
    try:
        await conn.execute(
            f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE "{role}" LOGIN;
              END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END $$;
            """
        )
    finally:
        await conn.close()


async def grant_app_privileges(owner_url: str, service: str, append_only: list[str]) -> None:
    """Give the service's role what it needs, and append-only tables nothing beyond INSERT."""
    role = app_role(service)
    await ensure_role(owner_url, role)
    conn = await _connect(owner_url)
    try:
        db = database_of(owner_url)
        await conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"')
        await conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            if table == "alembic_version":
                await conn.execute(f'GRANT SELECT ON alembic_version TO "{role}"')
            elif table in append_only:
                await conn.execute(f'REVOKE ALL ON "{table}" FROM "{role}"')
                await conn.execute(f'GRANT SELECT, INSERT ON "{table}" TO "{role}"')
            else:
                await conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{role}"')
        await conn.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        await conn.execute(f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO "{role}"')
    finally:
        await conn.close()


def append_only_tables(service: str) -> list[str]:
    """Tables the service's own migrations declare append-only (see each models.py)."""
    import importlib

    models = importlib.import_module(f"{package(service)}.models")
    return list(getattr(models, "APPEND_ONLY_TABLES", []))


async def prepare_service_database(
    admin_url: str,
    service: str,
    database: str | None = None,
    *,
    template: str | None = None,
    migrate: bool = True,
) -> tuple[str, str]:
    """Create (or reuse) and migrate a service's database.

    Returns (owner_url, app_url): migrations and the tests' superuser work use the first, the
    running service the second.
    """
    name = database or f"yiyang_{service}"
    owner_url = await ensure_database(admin_url, name, template=template)
    if migrate:
        await asyncio.to_thread(upgrade, service, owner_url)
        await grant_app_privileges(owner_url, service, append_only_tables(service))
    return owner_url, with_user(owner_url, app_role(service))
