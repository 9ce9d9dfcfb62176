"""Shared fixtures: a real PostgreSQL, fresh databases per test, apps on httpx, tokens.

See tests/fixtures/database.py for how databases are made, CONTRIBUTING.md for conventions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from services.common.auth import Role, issue_token
from services.common.migrate import drop_database
from services.common.settings import get_common_settings
from tests.fixtures import database as dbfix

os.environ.setdefault("YIYANG_ENV", "test")
# (hundreds of apps start in this one process: tests/common/test_gc_freeze.py turns it on)
os.environ.setdefault("YIYANG_FREEZE_GC_AT_START", "false")

# Property tests judge correctness, not speed: on a loaded 2-core machine (CI, or several
# test runs at once) generating inputs may be slow, which must not fail a test.
hypothesis_settings.register_profile(
    "yiyang",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hypothesis_settings.load_profile("yiyang")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return dbfix.admin_url()


@pytest.fixture(scope="session")
async def db_templates(pg_admin_url: str) -> AsyncIterator[dict[str, str]]:
    names = await dbfix.build_templates(pg_admin_url)
    yield names
    await dbfix.drop_templates(pg_admin_url, names)


DbFactory = Callable[[str], Awaitable[dbfix.ServiceDatabase]]


@pytest.fixture
async def make_db(pg_admin_url: str, db_templates: dict[str, str]) -> AsyncIterator[DbFactory]:
    """`await make_db("ledger")` -> a fresh, migrated database for that service."""
    made: list[dbfix.ServiceDatabase] = []

    async def _make(service: str) -> dbfix.ServiceDatabase:
        db = await dbfix.fresh_database(pg_admin_url, db_templates[service], service)
        made.append(db)
        return db

    yield _make
    for db in made:
        await drop_database(pg_admin_url, db.name)


def require_tool(ensure: Callable[[], Path]) -> Path:
    """A tool a test drives (a browser, wrk), installed by scripts/ensure_tools.py if missing.

    If it cannot be installed the test fails when `CI` is set (a missing tool must never let a
    run pass quietly) and is skipped, with the reason, on a developer's machine.
    """
    from scripts.ensure_tools import ToolUnavailable

    try:
        return ensure()
    except ToolUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"a tool the tests need cannot be installed: {exc}")
        pytest.skip(f"TOOL MISSING (this would fail under CI): {exc}")


@pytest.fixture(scope="session", autouse=True)
async def real_voucher(pg_admin_url: str, db_templates: dict[str, str]) -> AsyncIterator[None]:
    """The real voucher service, once per session, for the tests that run the ledger alone:
    the ledger asks it which programmes exist (tests/fixtures/voucher_programs.py)."""
    from tests.fixtures.voucher_programs import real_voucher_service

    db = await dbfix.fresh_database(pg_admin_url, db_templates["voucher"], "voucher")
    try:
        async with real_voucher_service(db.app_url):
            yield
    finally:
        await drop_database(pg_admin_url, db.name)


@contextlib.asynccontextmanager
async def running(app) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan and give an httpx client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


class Tokens:
    """Bearer headers for any role and scope, signed with the development key."""

    def __init__(self) -> None:
        self._key = get_common_settings().auth_private_key

    def token(self, role: Role | str, **scope) -> str:
        return issue_token(self._key, role=role, **scope)

    def headers(self, role: Role | str, **scope) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **scope)}"}


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture(scope="module")
def stripe_ls(tmp_path_factory):
    """A localstripe process of the test module's own (state kept in a file, so a test can
    stop and start it again), on a free port of 127.0.0.1."""
    from tests.settlement.stripe_process import LocalStripe

    ls = LocalStripe(tmp_path_factory.mktemp("localstripe") / "state.pickle")
    ls.start()
    yield ls
    ls.stop()
