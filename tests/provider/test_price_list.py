"""The price list: replaced by the provider's own admin, validated, visible in the profile."""

import pytest


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
    r = await ctx.c.put(
        f"/v1/providers/{pid}/services", json={"services": new}, headers=ctx.admin(pid)
    )
    assert r.status_code == 200 and r.json() == new
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=tokens.headers("beneficiary"))
    assert r.json()["services"] == new


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
