"""The profile and price-list change log: the provider's admin keeps its profile current;
every change is attributable."""

import pytest


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


async def test_admin_updates_the_profile_and_every_change_is_logged(ctx, tokens):
    pid = await ctx.approved()
    admin = ctx.admin(pid)
    r = await ctx.c.patch(
        f"/v1/providers/{pid}",
        headers=admin,
        json={
            "address": "南宁市青秀区竹溪大道8号",
            "lat": 22.80,
            "lon": 108.40,
            "bank_account": {
                "bank_name": "桂林银行南宁分行",
                "account_name": "新户名",
                "account_number": "6214830000001111",
            },
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"] == "南宁市青秀区竹溪大道8号" and body["lat"] == 22.80
    # a new settlement account waits for an officer (test_bank_account_change.py)
    assert body["bank_account"]["account_number_masked"] == "***************0123"
    assert body["bank_account_change_pending"]["account_number_masked"] == "************1111"
    assert "6214830000001111" not in r.text
    await ctx.c.put(
        f"/v1/providers/{pid}/services",
        headers=admin,
        json={
            "services": [
                {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1300}
            ]
        },
    )

    r = await ctx.c.get(f"/v1/providers/{pid}/changes", headers=ctx.officer)
    assert r.status_code == 200
    log = r.json()["items"]
    assert [c["kind"] for c in log] == ["price_list", "profile", "profile", "price_list"]
    assert log[1]["detail"] == {"fields": ["address", "lat", "lon"]}
    assert log[2]["detail"] == {
        "fields": ["bank_account"],
        "status": "pending",
        "bank_account_change_id": body["bank_account_change_pending"]["id"],
    }
    assert log[1]["actor"] == log[2]["actor"] == f"admin:{pid}"
    assert log[3]["detail"]["services"][0]["price_fen"] == 1300
    assert "6214830000001111" not in r.text

    # The move shows in nearby search and the feed.
    near = await ctx.c.get(
        "/v1/providers",
        params={"lat": 22.80, "lon": 108.40, "radius_m": 50},
        headers=tokens.headers("beneficiary"),
    )
    assert [i["id"] for i in near.json()["items"]] == [pid]
    feed = await ctx.c.get("/v1/internal/directory", headers=ctx.service)
    assert next(p for p in feed.json()["providers"] if p["id"] == pid)["lat"] == 22.80


async def test_bad_or_foreign_profile_changes_change_nothing(ctx, tokens):
    pid = await ctx.approved()
    other = await ctx.approved()
    before = await ctx.counts()
    r = await ctx.c.patch(
        f"/v1/providers/{pid}", headers=ctx.admin(other), json={"address": "别处"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await ctx.c.patch(f"/v1/providers/{pid}", headers=ctx.officer, json={"address": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    for bad, field in [
        ({"lat": 22.0}, "body"),
        ({}, "body"),
        ({"status": "approved"}, "status"),
        (
            {"bank_account": {"bank_name": "x", "account_name": "y", "account_number": "12"}},
            "bank_account.account_number",
        ),
    ]:
        r = await ctx.c.patch(f"/v1/providers/{pid}", headers=ctx.admin(pid), json=bad)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    r = await ctx.c.get(f"/v1/providers/{pid}/changes", headers=tokens.headers("beneficiary"))
    assert r.status_code == 403
    assert await ctx.counts() == before
