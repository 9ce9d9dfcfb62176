"""Database access shared by every service.

- `make_registry()` gives each service its own SQLModel metadata (its own database, its own
  migrations) with one constraint naming convention.
- `Database` owns the SQLAlchemy async engine, and for hot paths a raw asyncpg pool whose
  connections are not reset on release (asyncpg's default reset is a round trip per request;
  our hot paths leave no session state behind, so it buys nothing).
- Through PgBouncer in transaction mode (`?pooler=pgbouncer` on a database URL, or
  `YIYANG_DATABASE_POOLER=pgbouncer` for every URL of the process): consecutive transactions
  of one client connection run on different server connections, so nothing may outlive a
  transaction. PgBouncer 1.18 keeps no protocol-level prepared statements, so every
  connection turns asyncpg's statement cache off (`statement_cache_size=0`) and SQLAlchemy's
  (`prepared_statement_cache_size=0`): each statement is then prepared unnamed and executed
  at once (Parse/Describe/Flush, Bind/Execute/Sync: PgBouncer keeps the server connection
  until the Sync's ReadyForQuery), one more round trip per statement than with the cache.
  No session state is used anywhere (no session-level advisory locks, SET, LISTEN or
  temporary tables): locks are row locks, leases or `pg_advisory_xact_lock`.
- `SessionDep` is the one transaction per request: it commits when the route returns and
  rolls back on any exception. It is a function-scoped dependency, so its exit runs before the
  response is sent: a client never sees 201 for a write that then fails to commit (a deferred
  constraint firing at COMMIT, a lost connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData, literal, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry

from services.common.statement_pool import StatementPool

log = logging.getLogger("yiyang.db")

Isolation = Literal["READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_registry() -> registry:
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


# --- URLs ---------------------------------------------------------------------------------


def plain_url(url: str) -> str:
    """`postgresql://...` as asyncpg wants it (drops a SQLAlchemy `+driver`)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


# The URL query flag saying the URL names a transaction-mode pooler (module docstring).
POOLER_PARAM = "pooler"
POOLERS = ("none", "pgbouncer")


def split_pooler(url: str) -> tuple[str, bool]:
    """The URL without its `pooler` flag, and whether connections go through PgBouncer's
    transaction pooling (the flag, else the process-wide `YIYANG_DATABASE_POOLER`)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flags = [v for k, v in query if k == POOLER_PARAM]
    for value in flags:
        if value not in POOLERS:
            raise ValueError(f"{POOLER_PARAM}={value} in a database URL: expected one of {POOLERS}")
    if flags:
        pooled = flags[-1] == "pgbouncer"
        rest = [(k, v) for k, v in query if k != POOLER_PARAM]
        url = urlunsplit(parts._replace(query=urlencode(rest)))
    else:
        from services.common.settings import get_common_settings

        pooled = get_common_settings().database_pooler == "pgbouncer"
    return url, pooled


def is_pooled(url: str) -> bool:
    return split_pooler(url)[1]


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy's asyncpg dialect.

    A libpq multi-host URL (`user@h1:p1,h2:p2/db?target_session_attrs=read-write`, what the
    services use in front of a Patroni cluster, infra/README.md) is written the way SQLAlchemy
    reads several hosts (`user@/db?host=h1:p1&host=h2:p2&...`); asyncpg itself (the raw pool)
    takes the libpq form as it is. Both then try the hosts in order and keep the first that
    matches `target_session_attrs`.
    """
    rest = split_pooler(plain_url(url))[0].split("://", 1)[1]
    parts = urlsplit("postgresql://" + rest)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if "," in hosts:
        query = [("host", h) for h in hosts.split(",")] + parse_qsl(parts.query)
        rest = f"{userinfo}{at}{parts.path or '/'}?{urlencode(query)}"
    return "postgresql+asyncpg://" + rest


def with_database(url: str, database: str) -> str:
    parts = urlsplit(plain_url(url))
    return urlunsplit(parts._replace(path="/" + database))


def with_user(url: str, user: str) -> str:
    """The same server and database, signed in as `user` (no password: trust or peer auth)."""
    parts = urlsplit(plain_url(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def database_of(url: str) -> str:
    return urlsplit(plain_url(url)).path.lstrip("/") or "postgres"


def asyncpg_connect_kwargs(url: str) -> dict[str, Any]:
    """`asyncpg.connect` / `create_pool` keyword arguments for `url`.

    asyncpg cannot read `?host=/socket/dir` from a URL with an empty host: it is passed
    apart. Through PgBouncer (`split_pooler`) the statement cache is off (module docstring).
    """
    url, pooled = split_pooler(plain_url(url))
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    kwargs: dict[str, Any] = {}
    if "host" in query:
        kwargs["host"] = query.pop("host")
    if pooled:
        kwargs["statement_cache_size"] = 0
    dsn = urlunsplit(parts._replace(query=urlencode(query)))
    return {"dsn": dsn, **kwargs}


# --- engine, pool, session ----------------------------------------------------------------


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        raw_pool_size: int = 0,
        statement_pool_size: int | None = None,
        statements_together: bool = True,
        application_name: str = "yiyang",
    ) -> None:
        self.url = plain_url(url)
        self.application_name = application_name
        kwargs = asyncpg_connect_kwargs(self.url)
        self.pooled = "statement_cache_size" in kwargs
        connect_args: dict[str, Any] = {
            "server_settings": {"application_name": application_name},
        }
        if "host" in kwargs:
            connect_args["host"] = kwargs["host"]
        if self.pooled:
            # asyncpg's own cache and SQLAlchemy's: both off, so every statement is unnamed.
            connect_args["statement_cache_size"] = 0
            connect_args["prepared_statement_cache_size"] = 0
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(kwargs["dsn"]),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            connect_args=connect_args,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._raw_pool_size = raw_pool_size
        self._statement_pool_size = statement_pool_size or raw_pool_size
        self._statements_together = statements_together
        self.raw_pool: asyncpg.Pool | None = None
        # One-statement calls of the hottest path (the redemption), without the raw pool's
        # per-call machinery, run together where they can (services/common/statement_pool.py):
        # `statement_pool_size` connections (the raw pool's size unless given).
        self.statements: StatementPool | None = None

    async def start(self) -> None:
        if self._raw_pool_size and self.raw_pool is None:
            self.raw_pool = await asyncpg.create_pool(
                **asyncpg_connect_kwargs(self.url),
                min_size=1,
                max_size=self._raw_pool_size,
                reset=_no_reset,
                server_settings={"application_name": self.application_name},
            )
        if self._raw_pool_size and self.statements is None:
            # Calls run together on a connection's temporary function, which PgBouncer's
            # transaction mode would not keep: through it, each call runs alone, on as many
            # connections as the raw pool has.
            self.statements = StatementPool(
                self._connect_raw,
                self._raw_pool_size if self.pooled else self._statement_pool_size,
                together=self._statements_together and not self.pooled,
            )

    async def _connect_raw(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            **asyncpg_connect_kwargs(self.url),
            server_settings={"application_name": self.application_name},
        )
        return conn

    async def dispose(self) -> None:
        if self.statements is not None:
            await self.statements.close()
            self.statements = None
        if self.raw_pool is not None:
            await self.raw_pool.close()
            self.raw_pool = None
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(select(literal(1)))
            return True
        except Exception:  # readiness reports, it does not raise
            return False

    @contextlib.asynccontextmanager
    async def unit_of_work(
        self, *, isolation: Isolation | None = None, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction on one AsyncSession: committed when the block ends, rolled back if it
        raises. `isolation="REPEATABLE READ", readonly=True` gives one consistent snapshot
        (audit reads, reports); the default is READ COMMITTED, read-write."""
        async with self.sessionmaker() as session:
            try:
                if isolation is not None or readonly:
                    options: dict[str, Any] = {"postgresql_readonly": readonly}
                    if isolation is not None:
                        options["isolation_level"] = isolation
                    await session.connection(execution_options=options)
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's transaction.

    For a hot-path statement (raw SQL, `repository/<hot module>`) that must be part of a cold
    path's unit of work: posting a ledger entry in the same transaction as the settlement row
    that caused it, for one. Nothing else may use it.
    """
    conn = await session.connection()
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs; a raw
    # statement issued first would run outside the transaction (and commit on its own). One
    # trivial statement through the session opens the transaction first.
    await conn.execute(select(literal(1)))
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Release a connection without asyncpg's RESET ALL round trip (see module docstring)."""


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.unit_of_work() as session:
        yield session


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# For a service that runs its own units of work (one per attempt, see `retry_transaction`).
DatabaseDep = Annotated[Database, Depends(get_database)]


T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_retryable(exc: BaseException) -> bool:
    orig: Any = exc
    for _ in range(4):
        if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return True
        orig = getattr(orig, "orig", None) or getattr(orig, "__cause__", None)
        if orig is None:
            return False
    return False


async def retry_transaction(fn: Callable[[], Awaitable[T]], *, attempts: int = 8) -> T:
    """Run `fn` (which opens and commits its own transaction) again on serialization
    failures and deadlocks, with a short jittered back-off."""
    import random

    for attempt in range(attempts):
        try:
            return await fn()
        except (DBAPIError, asyncpg.PostgresError) as exc:
            if not is_retryable(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * (2**attempt)))
    raise AssertionError("unreachable")


async def resolve_database_url(service: str, configured: str | None, data_dir: Any) -> str:
    """The URL a service connects with: the configured one, else the embedded server's.

    With nothing configured, the embedded PostgreSQL under `data_dir/pg` is started (or joined),
    the service's database created and migrated, and the service's own role used.
    """
    if configured:
        return configured
    from pathlib import Path

    from services.common import embedded_pg
    from services.common.migrate import prepare_service_database

    admin = embedded_pg.start(Path(data_dir) / "pg")
    _, app_url = await prepare_service_database(admin, service)
    return app_url
