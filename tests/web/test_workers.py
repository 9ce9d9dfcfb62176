"""The web as several processes: sessions live in the web's database, so a person signed in
on one process is served by any other, and signing out on one is seen by all. Two real
`yiyang serve web` processes on one database, and a load of 80 concurrent sign-ins spread over them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from services.common.migrate import drop_database
from tests.fixtures import database as dbfix
from tests.fixtures.processes import free_port, start_web
from tests.web.system import DISTRICT, PASSWORD, add_accounts, login

pytestmark = pytest.mark.slow
PEOPLE = 50
SIGN_INS = 80


async def _ready(base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as c:
        while True:
            try:
                if (await c.get(f"{base}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{base} did not become ready"
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def webs(pg_admin_url: str, db_templates: dict[str, str]) -> AsyncIterator[list[str]]:
    """Two web processes on one fresh web database with PEOPLE accounts (`load0` ...)."""
    db = await dbfix.fresh_database(pg_admin_url, db_templates["web"], "web")
    await add_accounts(
        db.app_url,
        [
            {
                "username": f"load{n}",
                "role": "provider_admin",
                "display_name": f"压测{n}号",
                "provider_id": f"provider-{n}",
                "region": DISTRICT,
            }
            for n in range(PEOPLE)
        ],
    )
    ports = [free_port(), free_port()]
    processes = [start_web(db.app_url, port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            await _ready(base)
        yield bases
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=15)
            except Exception:
                p.kill()
        await drop_database(pg_admin_url, db.name)


async def test_signed_in_on_one_process_served_by_the_other(webs):
    a, b = webs
    async with httpx.AsyncClient(base_url=a) as on_a, httpx.AsyncClient(base_url=b) as on_b:
        r = await login(on_a, "load1", PASSWORD)
        assert r.status_code == 303
        on_b.cookies = on_a.cookies  # the same browser, its next request reaching process B
        page = await on_b.get("/account")
        assert page.status_code == 200 and "load1" in page.text and "压测1号" in page.text
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        assert (await on_b.post("/logout", data={"csrf_token": csrf})).status_code == 303
        gone = await on_a.get("/account")  # signed out on B: A knows at once
        assert gone.status_code == 303 and gone.headers["location"] == "/login?expired=1"


async def test_many_concurrent_sign_ins_over_two_processes_stay_valid_on_both(webs):
    limit = asyncio.Semaphore(16)

    async def sign_in(n: int) -> httpx.Cookies:
        async with limit, httpx.AsyncClient(base_url=webs[n % 2], timeout=60) as c:
            r = await login(c, f"load{n % PEOPLE}", PASSWORD)
            assert r.status_code == 303, r.text
            return c.cookies

    jars = await asyncio.gather(*(sign_in(n) for n in range(SIGN_INS)))
    assert len({jar.get("yiyang_session") for jar in jars}) == SIGN_INS  # all distinct

    async def check(n: int, base: str) -> None:
        async with limit, httpx.AsyncClient(base_url=base, cookies=jars[n], timeout=60) as c:
            page = await c.get("/account")
            assert page.status_code == 200, (n, base, page.status_code)
            assert f"load{n % PEOPLE}" in page.text

    await asyncio.gather(*(check(n, base) for n in range(SIGN_INS) for base in webs))
