"""The services through PgBouncer in transaction mode (infra/pgbouncer/pgbouncer.ini).

PgBouncer (Debian's, 1.18: no protocol-level prepared statements) runs in front of the test
server with 2 server connections per database and user, so the apps' client connections (the
voucher's engine and raw pool, the relay's pool, the ledger's) really share them: a statement
prepared in one transaction is gone, or someone else's, in the next. With `pooler=pgbouncer`
on the URLs (services/common/db.py: statement caches off) the voucher and ledger apps run
racing redemptions, racing issuance runs and a relay delivery through it, and nothing is
lost, duplicated or replayed; without the flag the same connections fail with asyncpg's
"prepared statement ... does not exist / already exists", which is what the flag is for.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import literal, select

from scripts.ensure_tools import ensure_pgbouncer
from services.common.db import Database, asyncpg_connect_kwargs, is_pooled, sqlalchemy_url
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from services.voucher.main import create_app as create_voucher
from services.voucher.relay import Relay
from tests.conftest import require_tool, running
from tests.fixtures import pgbouncer as bouncer_fixture
from tests.voucher.data.conftest import CITY, Env
from tests.voucher.data.test_issuance import enrol_many
from tests.voucher.redeem.conftest import World, key, qr, settings_for
from tests.voucher.redeem.test_relay import fund

ROOT = Path(__file__).resolve().parents[2]

PREPARED_STATEMENT_ERRORS = (
    asyncpg.InvalidSQLStatementNameError,  # prepared statement "__asyncpg_stmt_N__" does not exist
    asyncpg.DuplicatePreparedStatementError,  # ... already exists
)


@pytest.fixture(scope="module")
def bouncer(pg_admin_url):
    binary = require_tool(ensure_pgbouncer)
    b = bouncer_fixture.start(binary, pg_admin_url, pool_size=2)
    yield b
    b.stop()


@pytest.fixture
async def make_bounced_db(bouncer, make_db):
    """`make_db`, whose databases lose PgBouncer's server connections before they are
    dropped (so the drop need not terminate them)."""
    made = []

    async def make(service: str):
        db = await make_db(service)
        made.append(db.name)
        return db

    yield make
    for name in made:
        await bouncer.close_servers(name)


async def _race(db: Database, n: int = 40) -> list[BaseException | str]:
    """n statements at once on the raw pool and n transactions on the engine, three times:
    what failed, and answers that were not their own statement's."""

    async def raw(i: int) -> int:
        assert db.raw_pool is not None
        return int(await db.raw_pool.fetchval("SELECT $1::int + 1", i))

    async def session(i: int) -> int:
        async with db.unit_of_work() as s:
            return int((await s.execute(select(literal(i) + 1))).scalar_one())

    out: list[BaseException | str] = []
    for _ in range(3):
        results = await asyncio.gather(
            *(raw(i) for i in range(n)), *(session(i) for i in range(n)), return_exceptions=True
        )
        for i, r in enumerate(results):
            if isinstance(r, BaseException):
                out.append(r)
            elif r != i % n + 1:
                out.append(f"statement {i} answered {r}")
    return out


def _prepared_statement_error(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, PREPARED_STATEMENT_ERRORS):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__  # type: ignore[assignment]
    return False


async def test_the_pooler_flag_is_what_makes_prepared_statements_work(bouncer, make_bounced_db):
    vdb = await make_bounced_db("voucher")
    without = Database(bouncer.url_through(vdb.app_url, flag=False), pool_size=8, raw_pool_size=8)
    with_flag = Database(bouncer.url_through(vdb.app_url), pool_size=8, raw_pool_size=8)
    assert not without.pooled and with_flag.pooled
    assert is_pooled(bouncer.url_through(vdb.app_url))
    assert asyncpg_connect_kwargs(bouncer.url_through(vdb.app_url))["statement_cache_size"] == 0
    try:
        await without.start()
        failures = await _race(without)
        # Named statements cached on one server connection are missing (or someone else's)
        # on the next: asyncpg's error, which names PgBouncer as the cause.
        named = [
            f for f in failures if isinstance(f, BaseException) and _prepared_statement_error(f)
        ]
        assert named, failures[:3]
        assert any("pgbouncer" in str(f) for f in named)

        await with_flag.start()
        assert await _race(with_flag) == []
    finally:
        await without.dispose()
        await with_flag.dispose()


async def test_redemptions_issuance_and_the_relay_through_pgbouncer(
    bouncer, make_bounced_db, tokens
):
    ldb = await make_bounced_db("ledger")
    vdb = await make_bounced_db("voucher")
    ledger_app = create_ledger(LedgerSettings(database_url=bouncer.url_through(ldb.app_url)))
    voucher_app = create_voucher(
        settings_for(bouncer.url_through(vdb.app_url), raw_pool_size=10, issuance_chunk_size=3)
    )
    async with running(ledger_app) as ledger:
        voucher_app.state.ledger_client = ledger
        async with running(voucher_app) as voucher:
            ledger_app.state.voucher_client = voucher
            assert voucher_app.state.db.pooled and ledger_app.state.db.pooled
            conn = await asyncpg.connect(**asyncpg_connect_kwargs(vdb.owner_url))
            try:
                world = World(voucher_app, voucher, vdb.owner_url, conn)
                env = Env(voucher, ledger, voucher_app, vdb, ldb, tokens)
                await fund(ledger, tokens)

                # Issuance: two racing runs over the same people issue one voucher each.
                people = await enrol_many(env, 7)
                runs = await asyncio.gather(*(_run(env) for _ in range(2)))
                assert all(r.status_code == 200 for r in runs), [r.text for r in runs]
                issued = await conn.fetchval(
                    "SELECT count(*) FROM voucher WHERE beneficiary_id = ANY($1::uuid[])",
                    [uuid.UUID(p) for p in people],
                )
                assert issued == len(people)
                assert await conn.fetchval(
                    "SELECT count(DISTINCT beneficiary_id) FROM voucher"
                ) == await conn.fetchval("SELECT count(*) FROM voucher")

                # Redemptions: 30 terminals race one token (one wins); 30 bills race to drain
                # another voucher (never overdrawn); the replayed token is still refused.
                pid = world.add_provider()
                terms = [world.add_terminal(pid) for _ in range(30)]
                ben = await world.add_beneficiary()
                vid = await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000)
                token = qr(ben)
                answers = await asyncio.gather(*(_redeem(voucher, t, token, 1000) for t in terms))
                codes = sorted(
                    "201" if r.status_code == 201 else r.json()["error"]["code"] for r in answers
                )
                assert codes == ["201"] + ["TOKEN_USED"] * 29, codes
                replay = await _redeem(voucher, terms[0], token, 1000)
                assert replay.json()["error"]["code"] == "TOKEN_USED"

                ben2 = await world.add_beneficiary()
                face = 10_000
                vid2 = await world.add_voucher(ben2, face_fen=face, ratio_bp=10_000)
                drained = await asyncio.gather(
                    *(_redeem(voucher, terms[i], qr(ben2), 700 + i) for i in range(30))
                )
                ok = [r.json() for r in drained if r.status_code == 201]
                refused = {r.json()["error"]["code"] for r in drained if r.status_code != 201}
                assert refused <= {"VOUCHER_EXHAUSTED"}, refused
                assert await world.balance(vid2) == 0
                assert sum(r["subsidy_fen"] for r in ok) == face
                assert await world.balance(vid) == 49_500

                # The relay, on its own pool through PgBouncer, delivers every event once.
                relay_pool = await asyncpg.create_pool(
                    **asyncpg_connect_kwargs(bouncer.url_through(vdb.app_url)),
                    min_size=1,
                    max_size=2,
                )
                try:
                    relay = Relay(relay_pool, ledger, batch_size=7)
                    while await relay.deliver_once():
                        pass
                finally:
                    await relay_pool.close()
                events = await conn.fetchval("SELECT count(*) FROM outbox")
                assert (relay.delivered, relay.rejected) == (events, 0)
                assert (
                    await conn.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
                    == 0
                )
                lconn = await asyncpg.connect(**asyncpg_connect_kwargs(ldb.owner_url))
                try:
                    applied = await lconn.fetchval(
                        "SELECT count(*) FROM ledger_event WHERE status = 'applied'"
                    )
                    payable = await lconn.fetchval(
                        "SELECT -sum(balance_fen) FROM account WHERE code = '2201'"
                    )
                finally:
                    await lconn.close()
                assert applied == events
                redeemed = await conn.fetchval("SELECT sum(subsidy_fen) FROM redemption")
                assert payable == redeemed == 500 + face
            finally:
                await conn.close()


async def _run(env: Env):
    return await env.v.post(
        "/v1/issuance-runs",
        headers=env.officer,
        json={"program_code": "disability_subsidy", "period": env.period, "region_code": CITY},
    )


async def _redeem(client, terminal, token: str, gross: int):
    return await client.post(
        "/v1/redemptions",
        headers=terminal.headers,
        json={
            "token": token,
            "service_code": "CARE_BATH",
            "gross_fen": gross,
            "idempotency_key": key(),
        },
    )


def test_the_pooler_flag_is_read_from_a_multi_host_url_and_never_sent_to_the_server():
    url = (
        "postgresql://yiyang_voucher_app:pw@db1.internal:6432,db2.internal:6432/yiyang_voucher"
        "?target_session_attrs=read-write&pooler=pgbouncer"
    )
    kwargs = asyncpg_connect_kwargs(url)
    assert kwargs["statement_cache_size"] == 0
    assert "pooler" not in kwargs["dsn"] and "target_session_attrs=read-write" in kwargs["dsn"]
    assert "pooler" not in sqlalchemy_url(url)
    assert "host=db1.internal%3A6432&host=db2.internal%3A6432" in sqlalchemy_url(url)
    direct = url.replace("&pooler=pgbouncer", "")
    assert not is_pooled(direct) and "statement_cache_size" not in asyncpg_connect_kwargs(direct)
    assert not is_pooled(url.replace("pooler=pgbouncer", "pooler=none"))
    with pytest.raises(ValueError, match="pooler=pgpool"):
        is_pooled(url.replace("pooler=pgbouncer", "pooler=pgpool"))


def test_the_process_wide_setting_pools_every_url(monkeypatch):
    from services.common.settings import get_common_settings

    monkeypatch.setenv("YIYANG_DATABASE_POOLER", "pgbouncer")
    get_common_settings.cache_clear()
    try:
        assert is_pooled("postgresql://u@h:6432/d")
        assert not is_pooled("postgresql://u@h:5432/d?pooler=none")  # a URL may opt out
    finally:
        monkeypatch.delenv("YIYANG_DATABASE_POOLER")
        get_common_settings.cache_clear()


# Session state that would leak from one client to the next through transaction pooling (or
# be lost when the next transaction runs on another server connection).
SESSION_STATE = re.compile(
    r"pg_(try_)?advisory_(un)?lock(_shared)?\s*\(|pg_advisory_unlock_all|"
    r"""["']\s*LISTEN\s|add_listener\(|"""
    r"\.prepare\(|\bCREATE\s+TEMP(ORARY)?\s+TABLE|"
    r"""["']SET\s+(SESSION\s+)?(?!LOCAL)[a-z_]+\s*(=|TO)""",
    re.IGNORECASE,
)


def test_no_code_keeps_session_state_a_transaction_pooler_would_break():
    found = []
    for folder in (ROOT / "services", ROOT / "web"):
        for path in folder.rglob("*"):
            if path.suffix not in (".py", ".sql") or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if SESSION_STATE.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
    assert SESSION_STATE.search("SELECT pg_advisory_lock(42)")  # the pattern does catch them
    assert SESSION_STATE.search('"SET search_path = x"')
    assert SESSION_STATE.search('await conn.execute("LISTEN outbox")')
    assert not SESSION_STATE.search("SELECT pg_advisory_xact_lock(42)")
    assert not SESSION_STATE.search('"SET LOCAL lock_timeout = 1"')


async def test_the_web_as_two_workers_keeps_its_sessions_through_pgbouncer(
    bouncer, make_bounced_db
):
    """`yiyang serve web --workers 2` through PgBouncer: sign-ins spread over the workers
    stay valid on every request, and a sign-out is seen at once."""
    from tests.fixtures.processes import free_port, start_web
    from tests.web.system import DISTRICT, PASSWORD, add_accounts, login
    from tests.web.test_workers import _ready

    db = await make_bounced_db("web")
    people = 12
    await add_accounts(
        db.app_url,
        [
            {
                "username": f"pool{n}",
                "role": "provider_admin",
                "display_name": f"池{n}号",
                "provider_id": f"provider-{n}",
                "region": DISTRICT,
            }
            for n in range(people)
        ],
    )
    port = free_port()
    web = start_web(bouncer.url_through(db.app_url), port, workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        await _ready(base)

        async def sign_in(n: int) -> httpx.Cookies:
            async with httpx.AsyncClient(base_url=base, timeout=60) as c:
                r = await login(c, f"pool{n}", PASSWORD)
                assert r.status_code == 303, r.text
                return c.cookies

        jars = await asyncio.gather(*(sign_in(n) for n in range(people)))
        for _ in range(3):  # each request may reach either worker
            for n, jar in enumerate(jars):
                async with httpx.AsyncClient(base_url=base, cookies=jar) as c:
                    page = await c.get("/account")
                    assert page.status_code == 200 and f"pool{n}" in page.text
        async with httpx.AsyncClient(base_url=base, cookies=jars[0]) as c:
            page = await c.get("/account")
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert csrf
            assert (await c.post("/logout", data={"csrf_token": csrf.group(1)})).status_code == 303
            for _ in range(4):
                gone = await c.get("/account")
                assert gone.status_code == 303 and gone.headers["location"] == "/login"
    finally:
        web.terminate()
        try:
            web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            web.kill()
