"""Home visits and the cashier in the pages (issue 14, parts 3 and 6): the care worker checks
in and out at the elder's home with the elder's code and the device's position, the cashier
bills the completed visit from the price list, a home-visit item without a visit is refused
plainly, and the family's receipt shows the visit. One system for the module (its meal
point's list gets a home-visit item here)."""

from __future__ import annotations

import asyncio
import re

from tests.web.conftest import at_confirm, csrf_of, sent_back
from tests.web.system import MEAL_POINT
from tests.web.test_pages import fresh_code

HOME = (22.8105, 108.3702)  # ~50 m from the seeded person's registered home (22.81, 108.37)
FAR = (22.84, 108.37)

CARE_HOME = {
    "code": "CARE_HOME",
    "name": "上门护理",
    "category": "home_care_hours",
    "unit": "次",
    "price_fen": 6000,
    "home_visit": True,
    "min_minutes": 30,
}


async def _with_home_care(web) -> None:
    await web.set_prices(web.p1, [*MEAL_POINT["services"], CARE_HOME])
    directory = web.voucher_app.state.directory
    for _ in range(200):
        entry = directory.provider(web.p1)
        if entry is not None and "CARE_HOME" in entry.services:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the directory never saw the new price list")


async def test_check_in_check_out_and_bill_the_visit(web):
    await _with_home_care(web)
    async with web.signed_in("staff1") as c:
        page = (await c.get("/provider/visits")).text
        assert "签到" in page and "/static/position.js" in page
        csrf = csrf_of(page)
        # Too far from the home: refused plainly, nothing recorded.
        r = await c.post(
            "/provider/visits",
            data={
                "csrf_token": csrf,
                "token": await fresh_code(web, web.b1),
                "lat": FAR[0],
                "lon": FAR[1],
            },
        )
        assert r.status_code == 303
        assert "离老人登记的住址太远" in (await c.get("/provider/visits")).text
        # No position: asked for one.
        await c.post(
            "/provider/visits",
            data={"csrf_token": csrf, "token": await fresh_code(web, web.b1), "lat": "", "lon": ""},
        )
        assert "没有取得本机位置" in (await c.get("/provider/visits")).text
        r = await c.post(
            "/provider/visits",
            data={
                "csrf_token": csrf,
                "token": await fresh_code(web, web.b1),
                "lat": HOME[0],
                "lon": HOME[1],
                "care_worker": "张师傅",
            },
        )
        page = (await c.get("/provider/visits")).text
        assert "已签到" in page and "位置已核验" in page
        vid = re.search(r'href="/provider/visits/([0-9a-f-]{36})/check-out"', page).group(1)
        await web.count(
            "voucher",
            f"UPDATE visit SET checked_in_at = now() - interval '40 minutes' WHERE id = '{vid}'",
        )
        form = (await c.get(f"/provider/visits/{vid}/check-out")).text
        r = await c.post(
            f"/provider/visits/{vid}/check-out",
            data={
                "csrf_token": csrf_of(form),
                "token": await fresh_code(web, web.b1),
                "lat": HOME[0],
                "lon": HOME[1],
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/provider/visits"
        page = (await c.get("/provider/visits")).text
        assert "本次上门服务 40 分钟" in page
        assert f'href="/provider/redeem?visit_id={vid}"' in page

        # The cashier: without the visit, a home-visit item is refused plainly.
        form = (await c.get("/provider/redeem")).text
        assert "上门护理（60.00 元）" in form and 'id="visit_id"' in form
        token = await fresh_code(web, web.b1)
        r = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={"csrf_token": csrf_of(form), "token": token, "qty_CARE_HOME": "1"},
        )
        assert sent_back(r) and "上门服务需要先完成上门签到和签退" in r.text
        # With it (preselected from the visits page): priced from the list and paid.
        form = (await c.get(f"/provider/redeem?visit_id={vid}")).text
        assert f'value="{vid}" selected' in form
        preview = await c.post(
            "/provider/redeem",
            follow_redirects=True,
            data={
                "csrf_token": csrf_of(form),
                "token": token,
                "qty_CARE_HOME": "1",
                "visit_id": vid,
            },
        )
        assert at_confirm(preview), preview.text
        assert "60.00" in preview.text and f'name="visit_id" value="{vid}"' in preview.text
        data = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', preview.text))
        done = await c.post("/provider/redeem/confirm", data=data, follow_redirects=True)
        assert done.status_code == 200 and "收款成功" in done.text, done.text
        rid = re.search(r'href="/provider/receipts/([0-9a-f-]{36})"', done.text).group(1)
        page = (await c.get("/provider/visits")).text
        assert f"/provider/redeem?visit_id={vid}" not in page  # billed once

    async with web.signed_in("laowang") as c:
        receipt = (await c.get(f"/me/receipts/{rid}")).text
        assert "上门服务记录" in receipt and "共 40 分钟" in receipt and "张师傅" in receipt


async def test_visit_pages_are_for_provider_staff_with_a_terminal(web):
    async with web.signed_in("laowang") as c:
        assert (await c.get("/provider/visits")).status_code == 403
    async with web.signed_in("staff2") as c:  # no terminal bound to this account
        page = (await c.get("/provider/visits")).text
        assert "没有绑定收款终端" in page
        # no form it could not send, and who to ask is not the account itself
        assert 'id="check-in-form"' not in page and "本地区的账号管理员" in page
    async with web.signed_in("admin1") as c:  # the provider's admin: no terminal either
        page = (await c.get("/provider/visits")).text
        assert 'id="check-in-form"' not in page and "联系机构管理员" not in page
        r = await c.get("/provider/visits/not-an-id/check-out")
        assert r.status_code == 404


async def test_a_card_checks_in_with_the_pin_the_elder_types(web):
    card = await web.voucher.post(f"/v1/beneficiaries/{web.b3}/cards", headers=web.officer())
    assert card.status_code == 201, card.text
    card = card.json()
    async with web.signed_in("staff1") as c:
        page = (await c.get("/provider/visits")).text
        data = {"csrf_token": csrf_of(page), "token": card["token"], "lat": HOME[0], "lon": HOME[1]}
        await c.post("/provider/visits", data=data)
        assert "这张卡需要输入密码" in (await c.get("/provider/visits")).text
        await c.post("/provider/visits", data={**data, "pin": card["pin"]})
        assert "已签到" in (await c.get("/provider/visits")).text
