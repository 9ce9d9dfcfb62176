"""The provider admin's price list on a page (web/routes/price_list.py), against the real
provider service: a lower price or a new name is in force at once; a dearer price or a new
item waits for the officers (the admin's page says so, the prices stay); a stopped item
leaves the list; what cannot be a price is refused in words with nothing sent; every other
field of an item is kept. Only the provider's admin has the page."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of
from tests.web.system import MEAL_POINT


async def _list(web) -> dict[str, dict]:
    r = await web.provider.get(f"/v1/providers/{web.p1}", headers=web.officer())
    return {i["code"]: i for i in r.json()["services"]}


async def _pending(web) -> list[dict]:
    r = await web.provider.get(f"/v1/providers/{web.p1}/price-list-changes", headers=web.officer())
    return [c for c in r.json()["items"] if c["status"] == "pending"]


def _form(csrf: str, items: dict[str, dict], **over: str) -> dict[str, str]:
    data = {"csrf_token": csrf}
    for code, item in items.items():
        data[f"name-{code}"] = item["name"]
        data[f"price-{code}"] = f"{item['price_fen'] / 100:.2f}"
    data.update(over)
    return data


async def test_the_admin_keeps_the_price_list_on_a_page(web):
    before = await _list(web)
    lunch = before["MEAL_LUNCH"]
    try:
        async with web.signed_in("admin1") as c:
            page = (await c.get("/provider/admin/prices")).text
            assert 'id="prices-form"' in page
            assert "MEAL_LUNCH" not in re.sub(r"<[^>]+>", "", page)  # codes are not for people
            csrf = csrf_of(page)
            # cheaper and renamed (full-width digits, a trailing 元): in force at once
            cheaper = lunch["price_fen"] - 100
            typed = f"{cheaper // 100}．{cheaper % 100:02d}元".translate(
                str.maketrans("0123456789", "０１２３４５６７８９")
            )
            data = _form(csrf, before, **{"price-MEAL_LUNCH": typed, "name-MEAL_LUNCH": "营养午餐"})
            r = await c.post("/provider/admin/prices", data=data)
            assert r.status_code == 303 and r.headers["location"] == "/provider/admin"
            assert "价目表已更新" in (await c.get("/provider/admin")).text
            now = await _list(web)
            assert (now["MEAL_LUNCH"]["price_fen"], now["MEAL_LUNCH"]["name"]) == (
                cheaper,
                "营养午餐",
            )
            # every other field of the item kept
            assert {
                k: v for k, v in now["MEAL_LUNCH"].items() if k not in ("price_fen", "name")
            } == {k: v for k, v in lunch.items() if k not in ("price_fen", "name")}

            # dearer, and a new item: waits; the cashiers keep charging the approved prices
            data = _form(
                csrf,
                now,
                **{
                    "price-MEAL_LUNCH": "30",
                    "new_name": "上门理发",
                    "new_category": "cleaning",
                    "new_unit": "次",
                    "new_price": "20",
                },
            )
            r = await c.post("/provider/admin/prices", data=data)
            assert r.status_code == 303
            admin_page = (await c.get("/provider/admin")).text
            assert "已提交民政部门审核" in admin_page and "正在等待民政部门审核" in admin_page
            assert await _list(web) == now
            (pending,) = await _pending(web)
            assert set(pending["raises"]) == {"MEAL_LUNCH", "CLEANING_1"}
            added = next(s for s in pending["services"] if s["code"] == "CLEANING_1")
            assert (added["name"], added["price_fen"], added["unit"]) == ("上门理发", 2000, "次")

            # what cannot be a price: refused in words, nothing sent, what was typed kept
            for bad in ("abc", "-5", "0", "12.345"):
                data = _form(csrf, now, **{"price-MEAL_LUNCH": bad})
                r = await c.post("/provider/admin/prices", data=data)
                assert r.status_code == 422 and "请填写金额" in r.text, bad
                assert f'value="{bad}"' in r.text
            r = await c.post(
                "/provider/admin/prices",
                data=_form(csrf, now, new_name="助浴", new_price="10"),
            )
            assert r.status_code == 422 and "请选择服务类别" in r.text
            assert len(await _pending(web)) == 1 and await _list(web) == now

            # an item stopped: in force at once (it raises nothing), the pending list gone
            keep = {code: item for code, item in now.items() if code != "MEAL_LUNCH"}
            data = _form(csrf, now, stop="MEAL_LUNCH")
            r = await c.post("/provider/admin/prices", data=data)
            assert r.status_code == 303
            assert set(await _list(web)) == set(keep) and await _pending(web) == []
        for who in ("staff1", "officer", "finance"):
            async with web.signed_in(who) as c:
                r = await c.get("/provider/admin/prices")
                assert r.status_code in (403, 404), who
    finally:
        await web.set_prices(web.p1, MEAL_POINT["services"])
