"""The credit record and automatic suspension at the configured threshold."""

import asyncio

import pytest


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


@pytest.fixture(scope="module")
def provider_settings():
    return {"credit_suspend_threshold": 10}


async def test_points_add_up_and_the_threshold_suspends_with_the_reason(ctx):
    pid = await ctx.approved()
    url = f"/v1/providers/{pid}/credit-events"
    r = await ctx.c.post(
        url, json={"kind": "warning", "points": 3, "reason": "卫生检查警示"}, headers=ctx.officer
    )
    assert r.status_code == 201, r.text
    assert r.json()["credit_points"] == 3 and r.json()["status"] == "approved"
    r = await ctx.c.post(
        url, json={"kind": "violation", "points": 7, "reason": "虚报服务次数"}, headers=ctx.officer
    )
    body = r.json()
    assert body["credit_points"] == 10 and body["threshold"] == 10
    assert body["status"] == "suspended"
    assert [e["kind"] for e in body["events"]] == ["warning", "violation"]

    last = (await ctx.c.get(f"/v1/providers/{pid}/history", headers=ctx.officer)).json()
    step = last["items"][-1]
    assert (step["from_status"], step["to_status"], step["automatic"]) == (
        "approved",
        "suspended",
        True,
    )
    assert "10" in step["reason"] and "虚报服务次数" in step["reason"]
    # The suspension reached the directory feed.
    feed = (await ctx.c.get("/v1/internal/directory", headers=ctx.service)).json()
    assert next(p for p in feed["providers"] if p["id"] == pid)["status"] == "suspended"


async def test_below_the_threshold_nothing_is_suspended(ctx):
    pid = await ctx.approved()
    r = await ctx.c.post(
        f"/v1/providers/{pid}/credit-events",
        json={"kind": "sanction", "points": 9, "reason": "罚款"},
        headers=ctx.officer,
    )
    assert r.json()["status"] == "approved"


async def test_concurrent_additions_are_all_counted_and_suspend_once(ctx):
    pid = await ctx.approved()
    results = await asyncio.gather(
        *[
            ctx.c.post(
                f"/v1/providers/{pid}/credit-events",
                json={"kind": "violation", "points": 4, "reason": f"第{i}次"},
                headers=ctx.officer,
            )
            for i in range(5)
        ]
    )
    assert all(r.status_code == 201 for r in results)
    assert await ctx.fetchval("SELECT credit_points FROM provider WHERE id = $1::uuid", pid) == 20
    assert (
        await ctx.fetchval(
            "SELECT count(*) FROM provider_status_change WHERE provider_id = $1::uuid "
            "AND automatic",
            pid,
        )
        == 1
    )


async def test_an_event_with_a_source_counts_once_however_often_it_is_sent(ctx):
    """The voucher service records a confirmed alert's violation with `source_ref`; a retry
    (its answer lost) or several sent at once count once; another source counts again."""
    pid = await ctx.approved()
    url = f"/v1/providers/{pid}/credit-events"
    body = {"kind": "violation", "points": 4, "reason": "异常预警经核实", "source_ref": "alert:a1"}
    results = await asyncio.gather(
        *[ctx.c.post(url, json=body, headers=ctx.officer) for _ in range(4)]
    )
    assert [r.status_code for r in results] == [201] * 4
    assert {r.json()["credit_points"] for r in results} == {4}
    again = await ctx.c.post(url, json=body, headers=ctx.officer)
    assert again.status_code == 201 and len(again.json()["events"]) == 1
    other = await ctx.c.post(url, json={**body, "source_ref": "alert:a2"}, headers=ctx.officer)
    assert other.json()["credit_points"] == 8
    assert (
        await ctx.fetchval("SELECT count(*) FROM credit_event WHERE provider_id = $1::uuid", pid)
        == 2
    )
    # the same source on another provider is that provider's own event
    pid2 = await ctx.approved()
    r = await ctx.c.post(f"/v1/providers/{pid2}/credit-events", json=body, headers=ctx.officer)
    assert r.json()["credit_points"] == 4
    bad = await ctx.c.post(url, json={**body, "source_ref": ""}, headers=ctx.officer)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "source_ref"
    assert (
        await ctx.fetchval("SELECT count(*) FROM credit_event WHERE provider_id = $1::uuid", pid)
        == 2
    )


async def test_only_an_officer_of_the_region_adds_to_the_record(ctx, tokens):
    pid = await ctx.approved()
    before = await ctx.counts()
    body = {"kind": "warning", "points": 1, "reason": "x"}
    r = await ctx.c.post(
        f"/v1/providers/{pid}/credit-events",
        json=body,
        headers=tokens.headers("civil_affairs", region="450200"),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await ctx.c.post(f"/v1/providers/{pid}/credit-events", json=body, headers=ctx.admin(pid))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    for bad, field in [
        ({**body, "points": -1}, "points"),
        ({**body, "points": 1.5}, "points"),
        ({**body, "kind": "praise"}, "kind"),
        ({**body, "reason": ""}, "reason"),
    ]:
        r = await ctx.c.post(f"/v1/providers/{pid}/credit-events", json=bad, headers=ctx.officer)
        assert r.status_code == 422 and r.json()["error"]["field"] == field
    assert await ctx.counts() == before
    # Its own admin may read the record; to another provider's it does not exist.
    assert (
        await ctx.c.get(f"/v1/providers/{pid}/credit", headers=ctx.admin(pid))
    ).status_code == 200
    other = tokens.headers("provider_admin", provider_id="0192d1b2-aaaa-7bbb-8ccc-0000000000b1")
    r = await ctx.c.get(f"/v1/providers/{pid}/credit", headers=other)
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROVIDER_NOT_FOUND"


async def test_history_and_credit_tables_are_append_only_for_the_service_role(ctx):
    import asyncpg

    from services.common.db import asyncpg_connect_kwargs, with_user
    from services.common.migrate import app_role

    pid = await ctx.approved()
    conn = await asyncpg.connect(
        **asyncpg_connect_kwargs(with_user(ctx.owner_url, app_role("provider")))
    )
    try:
        for table in ("provider_status_change", "credit_event"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"DELETE FROM {table}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE provider_status_change SET reason = 'x'")
    finally:
        await conn.close()
    assert pid
