"""The national dashboard page (全国统计看板) of a national account (an auditor whose region
is the country, 000000), against a sharded voucher service of two provinces: the web test
system's Guangxi voucher app and a Guangdong one on a database of its own, behind the
province router (docs/shards.md). The page names each province and the country's total (the
sum of the provinces' own dashboards), draws its charts, exports its tables, speaks only
Chinese (no codes, no ids), refuses every other account and sends an expired session to
sign in; on a deployment of one province it says, in words, that there is no national
figure to show."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
from openpyxl import load_workbook

from services.common.migrate import drop_database
from services.common.shards import ProvinceRouter, in_province
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app as create_voucher
from services.voucher.service.national import national_dashboard
from tests.fixtures import database as dbfix
from tests.web.conftest import PASSWORD, login
from tests.web.system import System, enrolment, national_id
from tests.web.test_identity import Clock

NATIONAL = "000000"
GD_DISTRICT = "440106"  # 广州市天河区
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@asynccontextmanager
async def two_provinces(s: System, admin_url: str, templates: dict[str, str]) -> AsyncIterator[Any]:
    """The voucher service sharded: Guangxi (45) is the system's voucher app, Guangdong (44)
    a voucher app on a fresh database with one person enrolled; the router in front answers
    the national dashboard. (Guangdong's budget is read from the system's ledger, which has
    none for it: its budget lines are empty.)"""
    db = await dbfix.fresh_database(admin_url, templates["voucher"], "voucher")
    try:
        async with AsyncExitStack() as stack:
            gd = create_voucher(
                VoucherSettings(
                    database_url=db.app_url,
                    directory_poll_interval_s=0.5,
                    nonce_purge_interval_s=0,
                    expiry_interval_s=0,
                ),
                directory_transport=httpx.ASGITransport(app=s.provider_app),
            )
            gd.state.ledger_client = s.ledger
            with in_province("44"):  # as the router's lifespan starts a province's app
                await stack.enter_async_context(gd.router.lifespan_context(gd))
            router = ProvinceRouter(
                "voucher",
                {"45": s.voucher_app, "44": gd},
                routes={"/v1/national/dashboard": national_dashboard},
            )
            body = {
                **enrolment("陈阿婆", 900),
                "national_id": national_id(900, region=GD_DISTRICT),
                "region_code": GD_DISTRICT,
                "address": "天河区天河路1号",
                "lat": 23.125,
                "lon": 113.361,
            }
            officer = s.tokens.headers("civil_affairs", region="440100")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=router), base_url="http://voucher"
            ) as c:
                r = await c.post("/v1/beneficiaries", headers=officer, json=body)
                assert r.status_code == 201, r.text
            yield router
    finally:
        await drop_database(admin_url, db.name)


async def _enrolled(s: System) -> int:
    return int(await s.count("voucher", "SELECT count(*) FROM beneficiary WHERE status = 'active'"))


async def test_the_national_account_reads_each_province_and_the_total(
    web: System, pg_admin_url: str, db_templates: dict[str, str]
):
    await web.add_account(
        username="nation", role="auditor", display_name="全国审计", region=NATIONAL
    )
    clock = Clock()
    async with (
        two_provinces(web, pg_admin_url, db_templates) as router,
        web.other_web(
            transports=replace(web.transports, voucher=httpx.ASGITransport(app=router)),
            clock=clock,
        ) as app,
        web.client(app=app) as c,
    ):
        guangxi = await _enrolled(web)
        r = await login(c, "nation", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/national/dashboard"
        r = await c.get("/national/dashboard")
        assert r.status_code == 200, r.text
        html = r.text
        main = html[html.index("<main") :]
        assert "全国统计看板" in html and "全国审计人员" in html
        assert f"在册老人 {guangxi + 1} 人" in main
        assert "广西壮族自治区" in main and "广东省" in main and "全国合计" in main
        # the one menu entry of a national account; no province's task pages
        assert 'href="/national/dashboard"' in html and 'href="/dashboard"' not in html
        # provinces side by side (2), then the regional dashboard's seven charts
        assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 9
        # Chinese only: no region codes, no ids, no programme codes, Beijing time
        for code in ("450000", "440000", "000000", "disability_subsidy"):
            assert code not in main, code
        assert not UUID.search(main)
        assert "（北京时间）" in main

        # the provinces' table: each province's figures as its own dashboard says, and the sum
        got = await c.get("/national/dashboard/export.csv", params={"table": "subregions"})
        assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")
        head, *rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert head[:2] == ["省份", "在册老人"]
        by_name = {row[0]: row for row in rows}
        assert set(by_name) == {"广西壮族自治区", "广东省", "全国合计"}
        assert (by_name["广西壮族自治区"][1], by_name["广东省"][1]) == (str(guangxi), "1")
        assert by_name["全国合计"][1] == str(guangxi + 1)
        for table in ("programs", "budget", "providers", "circle", "trend"):
            x = await c.get("/national/dashboard/export.xlsx", params={"table": table})
            assert x.status_code == 200 and x.content[:2] == b"PK", table
        book = load_workbook(
            io.BytesIO(
                (
                    await c.get("/national/dashboard/export.xlsx", params={"table": "programs"})
                ).content
            )
        )
        names = [row[0] for row in book.active.iter_rows(min_row=2, values_only=True)]
        assert "失能补贴" in names and not any(n and "_" in n for n in names)
        assert (await c.get("/national/dashboard/export.pdf")).status_code == 404
        got = await c.get("/national/dashboard/export.csv", params={"table": "budget"})
        sources = {row[1] for row in csv.reader(io.StringIO(got.content.decode("utf-8-sig")))}
        assert "省级" in sources and "自治区" not in sources  # the provinces' level, by name

        # an expired session is sent to sign in, as on every page
        clock.advance(minutes=31)
        r = await c.get("/national/dashboard")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")

        # wrong accounts: a province's auditor and officer, provider staff
        for username in ("auditor", "officer", "staff1"):
            async with web.client(app=app) as other:
                assert (await login(other, username, PASSWORD)).status_code == 303
                r = await other.get("/national/dashboard")
                assert r.status_code == 403, username
                assert "全国统计看板只对全国账号开放" in r.text or "不能打开" in r.text
                x = await other.get("/national/dashboard/export.csv")
                assert x.status_code == 403, username


async def test_one_province_deployment_says_there_is_no_national_figure(web: System):
    await web.add_account(
        username="nation1", role="finance", display_name="全国财务", region=NATIONAL
    )
    async with web.signed_in("nation1") as c:
        r = await c.get("/national/dashboard")
        assert r.status_code == 404
        assert "当前部署只有一个省份" in r.text and "全国财务人员" in r.text


def test_a_national_account_is_named_as_such_and_has_one_page():
    from web import labels
    from web.render import home_of, menu_for, menu_key, role_name_of

    assert labels.region(NATIONAL) == "全国"  # where an account's region is shown
    for role in ("civil_affairs", "finance", "auditor"):
        assert home_of(role, NATIONAL) == "/national/dashboard"
        assert menu_for(menu_key(role, NATIONAL), "/").row == [
            ("/national/dashboard", "全国统计看板")
        ]
        assert role_name_of(role, NATIONAL).startswith("全国")
        assert home_of(role, "450000") != "/national/dashboard"
    # a provider's or a person's account is never national, whatever its region says
    assert menu_key("provider_admin", NATIONAL) == "provider_admin"
