"""The session dependency commits before the response, and PostgreSQL's refusals reach the
client as stable 4xx errors with nothing changed."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, func, select, text
from sqlalchemy.exc import DBAPIError

from services.common.db import Database, SessionDep, asyncpg_connect_kwargs, raw_connection
from services.common.errors import install_error_handlers

POT = Table(
    "pot", MetaData(), Column("id", Integer, primary_key=True), Column("amount_fen", Integer)
)

DDL = """
CREATE TABLE pot (id int PRIMARY KEY, amount_fen bigint NOT NULL);
CREATE FUNCTION pot_must_sum_to_zero() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT coalesce(sum(amount_fen), 0) FROM pot) <> 0 THEN
    RAISE EXCEPTION 'POT_UNBALANCED: the pot does not sum to zero' USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER pot_balanced AFTER INSERT ON pot
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pot_must_sum_to_zero();
"""


def build_app(db: Database) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.db = db

    @app.post("/pot", status_code=201)
    async def add(amounts: list[int], session: SessionDep) -> dict:
        for i, amount in enumerate(amounts):
            await session.execute(text("INSERT INTO pot VALUES (:i, :a)"), {"i": i, "a": amount})
        # Every statement succeeded; only COMMIT can still refuse (the deferred trigger).
        return {"inserted": len(amounts)}

    return app


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        return await conn.fetchval("SELECT count(*) FROM pot")
    finally:
        await conn.close()


async def test_a_write_refused_at_commit_is_never_answered_201(make_db):
    sdb = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    await conn.execute(DDL)
    await conn.close()
    db = Database(sdb.owner_url)
    app = build_app(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        refused = await c.post("/pot", json=[100, -99])
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "POT_UNBALANCED"
        assert await count_rows(sdb.owner_url) == 0

        accepted = await c.post("/pot", json=[100, -100])
        assert accepted.status_code == 201
        # Committed before the response: another connection sees it at once.
        assert await count_rows(sdb.owner_url) == 2
    await db.dispose()


async def test_validation_errors_name_the_field_and_do_not_echo_input(make_db):
    sdb = await make_db("voucher")
    db = Database(sdb.owner_url)
    app = build_app(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/pot", json=["45010319900101123X"])
    body = r.json()
    assert r.status_code == 422
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["field"] == "0"
    assert "45010319900101123X" not in r.text
    await db.dispose()


async def test_a_unit_of_work_can_be_one_read_only_snapshot(make_db):
    sdb = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    await conn.execute("CREATE TABLE pot (id int PRIMARY KEY, amount_fen bigint NOT NULL)")
    db = Database(sdb.owner_url)
    try:
        async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
            assert (await session.execute(select(func.count()).select_from(POT))).scalar() == 0
            # Another transaction commits a row; this snapshot does not see it.
            await conn.execute("INSERT INTO pot VALUES (1, 5)")
            assert (await session.execute(select(func.count()).select_from(POT))).scalar() == 0
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await session.execute(POT.insert().values(id=2, amount_fen=1))
        async with db.unit_of_work() as session:
            await session.execute(POT.insert().values(id=2, amount_fen=1))
        assert await count_rows(sdb.owner_url) == 2
    finally:
        await conn.close()
        await db.dispose()


async def test_a_hot_path_statement_joins_the_unit_of_work(make_db):
    """raw_connection gives the session's own asyncpg connection: its statements commit and
    roll back with the session's."""
    sdb = await make_db("voucher")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    await conn.execute("CREATE TABLE pot (id int PRIMARY KEY, amount_fen bigint NOT NULL)")
    await conn.close()
    db = Database(sdb.owner_url)
    try:
        with pytest.raises(RuntimeError):
            async with db.unit_of_work() as session:
                await session.execute(POT.insert().values(id=1, amount_fen=1))
                raw = await raw_connection(session)
                await raw.execute("INSERT INTO pot VALUES (2, 2)")
                raise RuntimeError("abandon the unit of work")
        assert await count_rows(sdb.owner_url) == 0
        with pytest.raises(RuntimeError):  # a raw statement first: still inside the unit
            async with db.unit_of_work() as session:
                await (await raw_connection(session)).execute("INSERT INTO pot VALUES (3, 3)")
                raise RuntimeError("abandon the unit of work")
        assert await count_rows(sdb.owner_url) == 0
        async with db.unit_of_work() as session:
            await session.execute(POT.insert().values(id=1, amount_fen=1))
            await (await raw_connection(session)).execute("INSERT INTO pot VALUES (2, 2)")
        assert await count_rows(sdb.owner_url) == 2
    finally:
        await db.dispose()
