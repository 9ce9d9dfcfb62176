"""The body of every `migrations/env.py` (each service's and the web's): online, async, one
transaction per run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.db import asyncpg_connect_kwargs, sqlalchemy_url

# How autogenerate compares the models with a database: the same for `alembic revision
# --autogenerate` and for the drift check the tests run (services.common.migrate.model_drift).
COMPARE_OPTIONS: dict[str, Any] = {"compare_type": True}


def _do_run(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transaction_per_migration=False,
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(metadata: MetaData) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config() always sets sqlalchemy.url"
    kwargs = asyncpg_connect_kwargs(url)
    connect_args = {"host": kwargs["host"]} if "host" in kwargs else {}
    engine = create_async_engine(
        sqlalchemy_url(kwargs["dsn"]), poolclass=pool.NullPool, connect_args=connect_args
    )
    async with engine.connect() as connection:
        await connection.run_sync(_do_run, metadata)
    await engine.dispose()


def run_migrations(metadata: MetaData) -> None:
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(metadata))


def execute_script(sql: str) -> None:
    """Run several SQL statements (functions, triggers) from a migration in one go.

    asyncpg prepares each statement and refuses more than one per call; a script must go
    through the simple-query protocol of the underlying connection instead.
    """
    from alembic import op
    from sqlalchemy.util import await_only

    raw: Any = op.get_bind().connection.driver_connection
    await_only(raw.execute(sql))


def sql_path(name: str) -> Path:
    """`<package>/migrations/sql/<name>`: where a service (or the web) keeps the bodies of the
    functions and triggers its migrations install (one file per object, its current text)."""
    from services.common.migrate import migrations_dir

    service: str = context.config.attributes["service"]
    return migrations_dir(service) / "sql" / name


def execute_sql_file(name: str) -> None:
    """Install the functions and triggers of `migrations/sql/<name>` (see `sql_path`).

    The files hold `CREATE OR REPLACE` bodies and drop-then-create triggers, so loading one
    again is harmless: a change to a function is a diff of its file plus a migration that loads
    it, never a copy of the body into the migration.
    """
    execute_script(sql_path(name).read_text(encoding="utf-8"))
