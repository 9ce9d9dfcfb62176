"""A database connection lost under a request (a failover, a restart) is answered 503
SERVICE_UNAVAILABLE, to be retried, never a 500; and the services' URLs may name every node
of a cluster (libpq multi-host, as infra/README.md has them in front of Patroni)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from loadtests.harness import free_port
from services.common.db import Database, SessionDep, asyncpg_connect_kwargs, sqlalchemy_url
from services.common.errors import connection_lost, install_error_handlers

# The server ends the session under the statement, as when the primary dies mid-request.
DIE = "SELECT pg_terminate_backend(pg_backend_pid())"
PID = "SELECT pg_backend_pid()"


def build_app(db: Database) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.db = db

    @app.get("/cold")
    async def cold(session: SessionDep, die: bool = False) -> dict[str, int]:
        return {"pid": (await session.execute(text(DIE if die else PID))).scalar_one()}

    @app.get("/hot")
    async def hot(die: bool = False) -> dict[str, int]:
        assert db.raw_pool is not None
        return {"pid": await db.raw_pool.fetchval(DIE if die else PID)}

    @app.get("/statement")
    async def statement(die: bool = False) -> dict[str, int]:
        assert (
            db.statements is not None
        )  # the redemption's pool (services/common/statement_pool.py)
        row = await db.statements.fetchrow(DIE if die else PID)
        assert row is not None
        return {"pid": row[0]}

    return app


@pytest.mark.parametrize("path", ["/cold", "/hot", "/statement"])
async def test_a_connection_lost_under_a_request_is_a_503_and_the_next_one_works(make_db, path):
    sdb = await make_db("voucher")
    db = Database(sdb.owner_url, pool_size=1, raw_pool_size=1)
    await db.start()
    app = build_app(db)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://t",
        ) as http:
            first = await http.get(path)
            assert first.status_code == 200
            lost = await http.get(path, params={"die": True})
            assert lost.status_code == 503, lost.text
            assert lost.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            # The retry gets a fresh connection.
            again = await http.get(path)
            assert again.status_code == 200, again.text
            assert again.json()["pid"] != first.json()["pid"]
    finally:
        await db.dispose()


async def test_no_server_to_connect_to_is_a_503():
    port = free_port()  # nobody listens there
    db = Database(f"postgresql://nobody@127.0.0.1:{port}/none?target_session_attrs=read-write")
    app = build_app(db)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://t",
        ) as http:
            r = await http.get("/cold")
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        await db.dispose()


async def test_a_refusal_is_not_a_lost_connection(make_db):
    sdb = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    try:
        with pytest.raises(asyncpg.PostgresError) as refused:
            await conn.execute("SELECT 1 / 0")
        assert not connection_lost(refused.value)
    finally:
        await conn.close()


def test_a_multi_host_url_is_written_for_sqlalchemy_and_left_alone_for_asyncpg():
    url = "postgresql://app@10.0.0.1:5432,10.0.0.2:5432/voucher?target_session_attrs=read-write"
    assert sqlalchemy_url(url) == (
        "postgresql+asyncpg://app@/voucher?host=10.0.0.1%3A5432&host=10.0.0.2%3A5432"
        "&target_session_attrs=read-write"
    )
    assert asyncpg_connect_kwargs(url) == {"dsn": url}
    assert sqlalchemy_url("postgresql://app@db:5432/voucher") == (
        "postgresql+asyncpg://app@db:5432/voucher"
    )


async def test_a_multi_host_url_skips_a_dead_node(pg_admin_url):
    """The first node named is down: SQLAlchemy and the raw pool both go on to the next."""
    live = httpx.URL(pg_admin_url)
    if not live.host:
        pytest.skip("the test server listens on a Unix socket only (no TCP host to name)")
    dead = f"127.0.0.1:{free_port()}"
    userinfo = f"{live.userinfo.decode()}@" if live.userinfo else ""
    url = (
        f"postgresql://{userinfo}{dead},{live.host}:{live.port or 5432}{live.path}"
        "?target_session_attrs=read-write"
    )
    db = Database(url, raw_pool_size=1)
    await db.start()
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT NOT pg_is_in_recovery()"))).scalar_one()
        assert db.raw_pool is not None
        assert await db.raw_pool.fetchval("SELECT 1") == 1
    finally:
        await db.dispose()


async def test_a_server_with_no_connection_left_is_a_503_not_a_500(pg_admin_url):
    """PostgreSQL refusing a new connection (SQLSTATE 53300, too many connections: a busy
    shared server, or a role at its limit) is a moment's unavailability, answered 503 like a
    failover, never an INTERNAL_ERROR."""
    role = f"no_slots_{free_port()}"
    admin = await asyncpg.connect(**asyncpg_connect_kwargs(pg_admin_url))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        # explicit parameters win over the DSN's (TCP or a Unix socket alike)
        kwargs = {**asyncpg_connect_kwargs(pg_admin_url), "user": role, "password": None}
        with pytest.raises(asyncpg.TooManyConnectionsError) as refused:
            await asyncpg.connect(**kwargs)
        assert connection_lost(refused.value)

        app = FastAPI()
        install_error_handlers(app)

        @app.get("/busy")
        async def busy() -> dict[str, int]:
            conn = await asyncpg.connect(**kwargs)
            await conn.close()
            return {"ok": 1}

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/busy")
        assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
