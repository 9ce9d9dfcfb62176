"""The price list: replaced by the provider's own admin, validated, visible in the profile."""

import pytest

from tests.provider.conftest import ITEM_DEFAULTS


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


async def test_admin_replaces_the_price_list(ctx, tokens):
    pid = await ctx.approved()
    new = [
        {
            "code": "DAY_CARE",
            "name": "日间照料",
            "category": "day_care",
            "unit": "天",
            "price_fen": 3000,
        },
        {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "unit": "次", "price_fen": 1200},
    ]
    r = await ctx.set_prices(pid, new)
    read = [{**item, **ITEM_DEFAULTS} for item in new]
    assert r.status_code == 200 and r.json() == read
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=tokens.headers("beneficiary"))
    assert r.json()["services"] == read


async def test_bad_or_foreign_price_lists_change_nothing(ctx, tokens):
    pid = await ctx.approved()
    other = await ctx.approved()
    before = await ctx.counts()
    ok = [{"code": "MEAL_DINNER", "name": "晚餐", "category": "meal", "price_fen": 1000}]
    r = await ctx.c.put(
        f"/v1/providers/{pid}/services", json={"services": ok}, headers=ctx.admin(other)
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await ctx.c.put(f"/v1/providers/{pid}/services", json={"services": ok}, headers=ctx.officer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    for bad, field in [
        ([], "services"),
        ([{**ok[0], "price_fen": -5}], "services.0.price_fen"),
        ([{**ok[0], "code": "lower case"}], "services.0.code"),
        ([ok[0], ok[0]], "services"),
    ]:
        r = await ctx.c.put(
            f"/v1/providers/{pid}/services", json={"services": bad}, headers=ctx.admin(pid)
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert await ctx.counts() == before


async def test_billing_fields_of_an_item(ctx):
    """An item says how it may be billed: units per visit, a variable price with its ceiling,
    delivery at home with minimum minutes; what does not fit is refused naming the field."""
    pid = await ctx.approved()
    items = [
        {
            "code": "HOME_CARE_HOUR",
            "name": "居家上门照护",
            "category": "home_care_hours",
            "unit": "小时",
            "price_fen": 4000,
            "max_per_visit": 4,
            "home_visit": True,
            "min_minutes": 50,
        },
        {
            "code": "AID_REPAIR",
            "name": "辅具维修",
            "category": "rehab_nursing",
            "price_fen": 5000,
            "variable_price": True,
            "max_price_fen": 20000,
        },
    ]
    r = await ctx.set_prices(pid, items)
    assert r.status_code == 200, r.text
    got = {i["code"]: i for i in r.json()}
    assert got["HOME_CARE_HOUR"]["max_per_visit"] == 4 and got["HOME_CARE_HOUR"]["home_visit"]
    assert got["HOME_CARE_HOUR"]["min_minutes"] == 50
    assert got["AID_REPAIR"]["variable_price"] and got["AID_REPAIR"]["max_price_fen"] == 20000
    assert got["AID_REPAIR"]["unit"] == "次" and got["AID_REPAIR"]["max_per_visit"] == 1

    before = await ctx.counts()
    fixed, variable = items[0], items[1]
    for bad, field in [
        ({**fixed, "max_per_visit": 0}, "services.0.max_per_visit"),
        ({**fixed, "max_per_visit": 100}, "services.0.max_per_visit"),
        ({**fixed, "max_per_visit": 1.5}, "services.0.max_per_visit"),
        ({**fixed, "home_visit": False}, "services.0.min_minutes"),
        ({**fixed, "min_minutes": 0}, "services.0.min_minutes"),
        ({**fixed, "max_price_fen": 9000}, "services.0.max_price_fen"),
        ({**variable, "max_price_fen": None}, "services.0.max_price_fen"),
        ({**variable, "max_price_fen": 4999}, "services.0.max_price_fen"),
        ({**variable, "variable_price": "yes"}, "services.0.variable_price"),
    ]:
        r = await ctx.c.put(
            f"/v1/providers/{pid}/services", json={"services": [bad]}, headers=ctx.admin(pid)
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == field, (bad, r.text)
    assert await ctx.counts() == before


async def test_serving_hours_of_a_meal(ctx, tokens):
    """A meal may say when it is served ("HH:MM", both or neither, from before until):
    kept with the price list and shown in the nearby search the elder's page reads;
    anything else is refused naming the field, and nothing changes."""
    pid = await ctx.approved()
    lunch = {
        "code": "MEAL_LUNCH",
        "name": "午餐",
        "category": "meal",
        "unit": "次",
        "price_fen": 1500,
        "serves_from": "11:00",
        "serves_until": "13:00",
    }
    r = await ctx.set_prices(pid, [lunch])
    assert r.status_code == 200, r.text
    assert r.json()[0]["serves_from"] == "11:00" and r.json()[0]["serves_until"] == "13:00"
    r = await ctx.c.get(
        "/v1/providers",
        params={"lat": 22.817, "lon": 108.366, "radius_m": 100},
        headers=tokens.headers("beneficiary"),
    )
    mine = next(p for p in r.json()["items"] if p["id"] == pid)
    assert mine["services"] == [{**lunch, **ITEM_DEFAULTS, **lunch}]
    before = await ctx.counts()
    for bad in (
        {"serves_from": "11:00"},
        {"serves_from": "13:00", "serves_until": "11:00"},
        {"serves_from": "25:00", "serves_until": "26:00"},
        {"serves_from": "11:00", "serves_until": "1pm"},
    ):
        r = await ctx.c.put(
            f"/v1/providers/{pid}/services",
            json={"services": [{**lunch, "serves_from": None, "serves_until": None, **bad}]},
            headers=ctx.admin(pid),
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"].startswith("services.0.serves_"), r.text
    assert await ctx.counts() == before
