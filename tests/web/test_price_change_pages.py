"""Price list changes through the pages, against the real provider service (tests/web/
system.py): a dearer list waits (the provider admin's page says so and shows the prices in
force); the region's officer sees each raised item's price now and asked for, rejects only
with a reason, approves once; then the admin's page shows the new price. Other roles are
refused the queue."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of
from tests.web.system import MEAL_POINT


async def _ask(web, lunch_fen: int) -> dict:
    admin = web.tokens.headers("provider_admin", sub="test:admin", provider_id=web.p1)
    dearer = [
        {**item, "price_fen": lunch_fen} if item["code"] == "MEAL_LUNCH" else item
        for item in MEAL_POINT["services"]
    ]
    r = await web.provider.put(
        f"/v1/providers/{web.p1}/services", headers=admin, json={"services": dearer}
    )
    assert r.status_code == 202, r.text
    return r.json()


async def test_a_dearer_list_waits_and_the_officer_decides_it_on_a_page(web):
    lunch = next(i for i in MEAL_POINT["services"] if i["code"] == "MEAL_LUNCH")
    now = f"{lunch['price_fen'] // 100}.{lunch['price_fen'] % 100:02d}"
    try:
        first = await _ask(web, 2_000)
        async with web.signed_in("admin1") as c:
            page = (await c.get("/provider/admin")).text
            assert "正在等待民政部门审核" in page and "仍按上面的价格收费" in page
            assert f"{now} 元" in page and "20.00 元" not in page

        async with web.signed_in("officer") as c:
            queue = (await c.get("/officer/price-changes")).text
            card = re.search(
                rf'<section [^>]*data-change="{first["id"]}".*?</section>', queue, re.DOTALL
            ).group(0)
            assert f'class="old-price">{now}<' in card and 'class="new-price">20.00<' in card
            visible = re.sub(r"<[^>]+>", "", card)  # what a person reads: no raw ids
            assert lunch["name"] in visible and first["id"] not in visible
            csrf = csrf_of(queue)
            base = f"/officer/price-changes/{web.p1}/{first['id']}"
            r = await c.post(f"{base}/reject", data={"csrf_token": csrf, "reason": " "})
            assert r.status_code == 303
            assert "驳回时请填写原因" in (await c.get("/officer/price-changes")).text
            r = await c.post(f"{base}/reject", data={"csrf_token": csrf, "reason": "高于普惠价"})
            assert "已驳回，机构仍按原价格收费" in (await c.get("/officer/price-changes")).text
        async with web.signed_in("admin1") as c:
            page = (await c.get("/provider/admin")).text
            assert "没有通过审核：高于普惠价" in page and "20.00 元" not in page

        second = await _ask(web, 1_900)
        async with web.signed_in("officer") as c:
            queue = (await c.get("/officer/price-changes")).text
            csrf = csrf_of(queue)
            base = f"/officer/price-changes/{web.p1}/{second['id']}"
            await c.post(f"{base}/approve", data={"csrf_token": csrf})
            done = (await c.get("/officer/price-changes")).text
            assert "已批准，今后按新价格收费" in done and second["id"] not in done
            # pressed again (Back, then the button): said plainly, decided once
            await c.post(f"{base}/approve", data={"csrf_token": csrf})
            assert "已经处理过了" in (await c.get("/officer/price-changes")).text
        async with web.signed_in("admin1") as c:
            page = (await c.get("/provider/admin")).text
            assert "19.00 元" in page and "等待民政部门审核" not in page
        # only the region's officers have the queue
        for who in ("admin1", "finance", "staff1"):
            async with web.signed_in(who) as c:
                r = await c.get("/officer/price-changes")
                assert r.status_code in (403, 404), who
    finally:
        await web.set_prices(web.p1, MEAL_POINT["services"])  # cheaper: at once
