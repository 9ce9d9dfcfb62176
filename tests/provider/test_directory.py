"""The directory feed the voucher service polls: changes after `since` only, versions from one
counter, suspensions and revoked terminals reaching it."""

import asyncio
import hashlib

from tests.provider.conftest import ITEM_DEFAULTS


async def feed(ctx, since=0):
    r = await ctx.c.get("/v1/internal/directory", params={"since": since}, headers=ctx.service)
    assert r.status_code == 200, r.text
    return r.json()


async def test_everything_then_only_what_changed(ctx):
    empty = await feed(ctx)
    assert empty == {"version": 0, "providers": [], "terminals": []}

    a = await ctx.approved()
    b = await ctx.apply(kind="institution", region_code="450102")
    full = await feed(ctx)
    assert {p["id"] for p in full["providers"]} == {a, b}
    pa = next(p for p in full["providers"] if p["id"] == a)
    assert pa["status"] == "approved" and pa["kind"] == "meal_point"
    assert pa["region_code"] == "450103" and pa["lat"] == 22.817
    assert pa["services"][0] == {
        "code": "MEAL_LUNCH",
        "name": "午餐",
        "category": "meal",
        "unit": "次",
        "price_fen": 1500,
        **ITEM_DEFAULTS,
    }
    assert pa["price_list_version"] > 0
    # Personal and settlement data never travel in the feed.
    assert "bank" not in str(full) and "phone" not in str(full)

    v = full["version"]
    assert await feed(ctx, v) == {"version": v, "providers": [], "terminals": []}

    r = await ctx.c.post(
        f"/v1/providers/{a}/suspend", json={"reason": "食品安全检查不合格"}, headers=ctx.officer
    )
    assert r.status_code == 200
    after = await feed(ctx, v)
    assert after["version"] > v
    assert [(p["id"], p["status"]) for p in after["providers"]] == [(a, "suspended")]


async def test_terminals_appear_with_their_hash_and_revocation(ctx):
    pid = await ctx.approved()
    v0 = (await feed(ctx))["version"]
    r = await ctx.c.post(
        f"/v1/providers/{pid}/terminals", json={"name": "前台"}, headers=ctx.admin(pid)
    )
    issued = r.json()
    f1 = await feed(ctx, v0)
    assert f1["providers"] == []
    assert f1["terminals"] == [
        {
            "id": issued["terminal_id"],
            "provider_id": pid,
            "name": "前台",
            "status": "active",
            "secret_sha256": hashlib.sha256(issued["secret"].encode()).hexdigest(),
        }
    ]
    assert issued["secret"] not in str(f1)

    await ctx.c.post(
        f"/v1/providers/{pid}/terminals/{issued['terminal_id']}/revoke", headers=ctx.admin(pid)
    )
    f2 = await feed(ctx, f1["version"])
    assert [(t["id"], t["status"]) for t in f2["terminals"]] == [(issued["terminal_id"], "revoked")]


async def test_a_price_list_change_reaches_the_feed(ctx):
    pid = await ctx.approved()
    v = (await feed(ctx))["version"]
    r = await ctx.c.put(
        f"/v1/providers/{pid}/services",
        headers=ctx.admin(pid),
        json={
            "services": [
                {
                    "code": "MEAL_LUNCH",
                    "name": "午餐",
                    "category": "meal",
                    "unit": "次",
                    "price_fen": 1200,
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    changed = await feed(ctx, v)
    [p] = changed["providers"]
    assert p["services"] == [
        {
            "code": "MEAL_LUNCH",
            "name": "午餐",
            "category": "meal",
            "unit": "次",
            "price_fen": 1200,
            **ITEM_DEFAULTS,
        }
    ]
    # The list's version is the change's: the voucher service stores it with each bill.
    assert p["price_list_version"] == changed["version"] > v


async def test_only_services_read_the_feed(ctx, tokens):
    for role in ("civil_affairs", "auditor", "provider_admin", "beneficiary", "finance"):
        r = await ctx.c.get("/v1/internal/directory", headers=tokens.headers(role, region="450000"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await ctx.c.get("/v1/internal/directory")
    assert r.status_code == 401
    for bad in (-1, 2**64, "x"):
        r = await ctx.c.get("/v1/internal/directory", params={"since": bad}, headers=ctx.service)
        assert r.status_code == 422 and r.json()["error"]["field"] == "since"


async def test_a_poller_following_versions_misses_nothing_under_concurrent_writes(ctx):
    """Writers race (applications, approvals, terminals) while a reader polls with the version
    it last saw; at the end the reader's picture equals the database's."""
    ids = [await ctx.apply() for _ in range(4)]
    seen: dict[str, str] = {}
    terminals: dict[str, str] = {}
    version = 0
    done = asyncio.Event()

    async def poll():
        nonlocal version
        while True:
            finished = done.is_set()
            f = await feed(ctx, version)
            for p in f["providers"]:
                seen[p["id"]] = p["status"]
            for t in f["terminals"]:
                terminals[t["id"]] = t["status"]
            assert f["version"] >= version
            version = f["version"]
            if finished:
                return
            await asyncio.sleep(0)

    async def write(pid):
        await ctx.c.post(f"/v1/providers/{pid}/approve", json={"reason": "ok"}, headers=ctx.officer)
        for n in range(3):
            await ctx.c.post(
                f"/v1/providers/{pid}/terminals", json={"name": f"t{n}"}, headers=ctx.admin(pid)
            )
        await ctx.c.post(f"/v1/providers/{pid}/suspend", json={"reason": "x"}, headers=ctx.officer)

    async def writers():
        await asyncio.gather(*(write(pid) for pid in ids), ctx.apply(), ctx.apply())
        done.set()

    await asyncio.gather(poll(), writers())
    truth = await feed(ctx)
    assert version == truth["version"]
    assert seen == {p["id"]: p["status"] for p in truth["providers"]}
    assert terminals == {t["id"]: t["status"] for t in truth["terminals"]}
    assert len(terminals) == 12 and all(seen[pid] == "suspended" for pid in ids)
