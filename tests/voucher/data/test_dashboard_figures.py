"""GET /v1/dashboard with the real ledger: the budget's execution by programme and funding
source equals what the ledger's tables hold; providers by kind and status equal the provider
directory; the 15-minute care circle on hand-placed people and providers equals a direct
count (every person against every provider, no grid), with approximate and missing locations
counted apart and the community with the most uncovered people first."""

from __future__ import annotations

import asyncio
import math

from tests.voucher.data.conftest import CITY, DISTRICT

MEAL = (22.8170, 108.3660)  # an approved meal point
CARE = (22.8170, 108.3800)  # an approved home care provider, ~1.44 km east of it
# (region, lat, lon, approximate): two covered, two not (one just over 1 km from the meal
# point), one placed at its community's centre, one without a location
PEOPLE = [
    ("450103001", 22.8170, 108.3700, False),  # 410 m / 1,025 m: covered
    ("450103001", 22.8170, 108.3700, True),  # approximate: counted apart
    ("450103002", 22.8300, 108.3660, False),  # 1,446 m from the meal point: uncovered
    ("450103002", 22.8170, 108.3560, False),  # 1,025 m from the meal point: uncovered
    (DISTRICT, None, None, False),  # no location: counted apart
    (DISTRICT, 22.8230, 108.3700, False),  # 783 m / 1,223 m: covered
]


def _m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _provider(pid: str, kind: str, status: str, at: tuple[float, float], meal: bool) -> dict:
    item = {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1500}
    care = {
        "code": "CARE_HOME",
        "name": "上门护理",
        "category": "home_care_hours",
        "price_fen": 5000,
    }
    return {
        "id": pid,
        "name": pid,
        "kind": kind,
        "status": status,
        "region_code": DISTRICT,
        "lat": at[0],
        "lon": at[1],
        "services": [item if meal else care],
    }


async def test_budget_providers_and_the_care_circle_equal_direct_counts(env, tokens):
    await env.appropriate(5_000_000, region=DISTRICT)
    await env.appropriate(3_000_000, region="450105")
    for region, lat, lon, approximate in PEOPLE:
        await env.enrol(region_code=region, lat=lat, lon=lon, location_approximate=approximate)
    providers = [
        _provider("meal-1", "meal_point", "approved", MEAL, True),
        _provider("care-1", "home_care", "approved", CARE, False),
        # a suspended meal point beside the uncovered: it covers nobody
        _provider("meal-2", "meal_point", "suspended", (22.8300, 108.3660), True),
        _provider("care-2", "community_embedded", "applied", (22.8170, 108.3560), False),
    ]
    env.app.state.directory.apply({"version": 10_000, "providers": providers})

    r = await env.v.get(
        "/v1/dashboard", headers=env.officer, params={"region_code": CITY, "period": env.period}
    )
    assert r.status_code == 200, r.text
    d = r.json()

    # the budget: what the ledger's tables hold, by programme and funding source
    rows = await env.ledger_fetch(
        """SELECT a.program_code, a.funding_source,
                  -coalesce(sum(p.amount_fen) FILTER (WHERE e.kind = 'appropriation'), 0) AS ap,
                  coalesce(sum(p.amount_fen) FILTER (WHERE e.kind = 'commitment'), 0) AS co,
                  -coalesce(sum(p.amount_fen) FILTER (WHERE e.kind = 'expiry'), 0) AS re
             FROM posting p JOIN entry e ON e.id = p.entry_id JOIN account a ON a.id = p.account_id
            WHERE a.code = '3001' AND a.region_code LIKE '4501%'
            GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    balances = {
        (r["program_code"], r["funding_source"], r["code"]): r["b"]
        for r in await env.ledger_fetch(
            "SELECT program_code, funding_source, code, -sum(balance_fen) AS b FROM account"
            " WHERE code IN ('3001', '3002') AND region_code LIKE '4501%' GROUP BY 1, 2, 3"
        )
    }
    expected = [
        {
            "program_code": r["program_code"],
            "funding_source": r["funding_source"],
            "appropriated_fen": r["ap"],
            "committed_fen": r["co"],
            "spent_fen": balances.get((r["program_code"], r["funding_source"], "3002"), 0),
            "released_fen": r["re"],
            "available_fen": balances[(r["program_code"], r["funding_source"], "3001")],
        }
        for r in rows
    ]
    assert d["budget"] == expected
    central = next(b for b in d["budget"] if b["funding_source"] == "central")
    assert central["appropriated_fen"] == 8_000_000 * 95 // 100
    # every exactly enrolled person of the district had this month's voucher committed
    face = await env.fetchval("SELECT sum(face_fen) FROM voucher")
    assert face > 0 and sum(b["committed_fen"] for b in d["budget"]) == face
    assert sum(b["available_fen"] for b in d["budget"]) == 8_000_000 - face

    # providers by kind and status: as the directory lists them
    assert d["providers"] == [
        {"kind": "community_embedded", "status": "applied", "providers": 1},
        {"kind": "home_care", "status": "approved", "providers": 1},
        {"kind": "meal_point", "status": "approved", "providers": 1},
        {"kind": "meal_point", "status": "suspended", "providers": 1},
    ]

    # the care circle: every person against every approved provider, directly
    people = await env.fetch(
        "SELECT region_code, lat, lon, location_approximate FROM beneficiary"
        " WHERE status = 'active' AND region_code LIKE '4501%'"
    )
    exact = [p for p in people if p["lat"] is not None and not p["location_approximate"]]
    covered = [
        p
        for p in exact
        if _m((p["lat"], p["lon"]), MEAL) <= 1_000 and _m((p["lat"], p["lon"]), CARE) <= 1_500
    ]
    c = d["care_circle"]
    assert (c["meal_radius_m"], c["care_radius_m"]) == (1_000, 1_500)
    assert (
        (c["active"], c["exact"], c["covered"], c["uncovered"])
        == (
            len(people),
            len(exact),
            len(covered),
            len(exact) - len(covered),
        )
        == (6, 4, 2, 2)
    )
    assert (c["approximate"], c["unlocated"], c["covered_bp"]) == (1, 1, 5_000)
    assert c["communities"] == [
        {"region_code": "450103002", "exact": 2, "uncovered": 2, "approximate": 0}
    ]
    (sub,) = [s for s in d["subregions"] if s["region_code"] == DISTRICT]
    assert (sub["circle_exact"], sub["circle_covered"], sub["circle_covered_bp"]) == (4, 2, 5000)

    # the radii are configurable
    env.app.state.settings.care_circle_meal_radius_m = 1_100
    env.app.state.settings.care_circle_care_radius_m = 2_500
    try:
        r = await env.v.get("/v1/dashboard", headers=env.officer, params={"region_code": DISTRICT})
        # the one 1,025 m from the meal point (2,460 m from care) is now covered too
        assert r.json()["care_circle"]["covered"] == 3
    finally:
        env.app.state.settings.care_circle_meal_radius_m = 1_000
        env.app.state.settings.care_circle_care_radius_m = 1_500

    # the ledger's figures are read in scope and by role only
    liuzhou = tokens.headers("finance", sub="f:lz", region="450200")
    r = await env.ledger.get("/v1/budget/execution", headers=liuzhou, params={"region_code": CITY})
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    staff = tokens.headers("provider_staff", sub="s:1", provider_id="p")
    r = await env.ledger.get("/v1/budget/execution", headers=staff)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await env.ledger.get("/v1/budget/execution", headers=liuzhou)
    assert r.status_code == 200 and r.json()["lines"] == []


async def _direct_circle(env, providers: list[dict], meal_r: int = 1_000, care_r: int = 1_500):
    """The city's care circle counted directly: every active person of the database against
    every approved provider of the directory (no grid, no summary)."""
    people = await env.fetch(
        "SELECT region_code, lat, lon, location_approximate FROM beneficiary"
        " WHERE status = 'active' AND region_code LIKE '4501%'"
    )
    approved = [p for p in providers if p["status"] == "approved"]
    meal = [
        (p["lat"], p["lon"])
        for p in approved
        if p["kind"] == "meal_point" or any(s["category"] == "meal" for s in p["services"])
    ]
    care = [(p["lat"], p["lon"]) for p in approved if p["kind"] != "meal_point"]
    by_region: dict[str, list[int]] = {}  # code -> [exact, uncovered, approximate]
    total = {"active": 0, "exact": 0, "covered": 0, "approximate": 0, "unlocated": 0}
    total.update(meal_covered=0, care_covered=0)
    for p in people:
        total["active"] += 1
        t = by_region.setdefault(p["region_code"], [0, 0, 0])
        if p["lat"] is None:
            total["unlocated"] += 1
        elif p["location_approximate"]:
            total["approximate"] += 1
            t[2] += 1
        else:
            at = (p["lat"], p["lon"])
            has_meal = any(_m(at, m) <= meal_r for m in meal)
            has_care = any(_m(at, c) <= care_r for c in care)
            total["exact"] += 1
            total["meal_covered"] += has_meal
            total["care_covered"] += has_care
            total["covered"] += has_meal and has_care
            t[0] += 1
            t[1] += not (has_meal and has_care)
    communities = sorted(
        (
            {"region_code": code, "exact": e, "uncovered": u, "approximate": a}
            for code, (e, u, a) in by_region.items()
            if u > 0
        ),
        key=lambda c: (-c["uncovered"], c["region_code"]),
    )
    by_district: dict[str, list[int]] = {}
    for p in people:
        if p["lat"] is not None and not p["location_approximate"]:
            at = (p["lat"], p["lon"])
            d = by_district.setdefault(p["region_code"][:6], [0, 0])
            d[0] += 1
            d[1] += any(_m(at, m) <= meal_r for m in meal) and any(
                _m(at, c) <= care_r for c in care
            )
    return total, communities, by_district


async def _summed_circle(env):
    r = await env.v.get(
        "/v1/dashboard", headers=env.officer, params={"region_code": CITY, "period": env.period}
    )
    assert r.status_code == 200, r.text
    c = r.json()["care_circle"]
    total = {k: c[k] for k in ("active", "exact", "covered", "approximate", "unlocated")}
    total.update(meal_covered=c["meal_covered"], care_covered=c["care_covered"])
    by_district = {
        s["region_code"]: [s["circle_exact"], s["circle_covered"]]
        for s in r.json()["subregions"]
        if s["circle_exact"]
    }
    return total, c["communities"], by_district


async def test_the_care_circle_summary_follows_people_and_providers(env):
    """The dashboard reads the care circle from its summary: after a person moves, is
    suspended or changes community, and after a provider is approved, suspended, moves or
    gains a meal item, it still equals the direct count, and each change did move it."""
    ids = []
    for region, lat, lon, approximate in PEOPLE:
        b = await env.enrol(region_code=region, lat=lat, lon=lon, location_approximate=approximate)
        ids.append(b["id"])
    providers = [
        _provider("meal-1", "meal_point", "approved", MEAL, True),
        _provider("care-1", "home_care", "approved", CARE, False),
        _provider("meal-2", "meal_point", "suspended", (22.8300, 108.3660), True),
        _provider("care-2", "community_embedded", "applied", (22.8300, 108.3700), False),
    ]
    directory = env.app.state.directory
    version = 20_000

    def publish(*changed: dict) -> None:
        nonlocal version
        version += 1
        directory.apply({"version": version, "providers": list(changed)})

    publish(*providers)
    seen = [await _summed_circle(env)]
    assert seen[-1] == await _direct_circle(env, providers)
    assert seen[-1][0]["covered"] == 2

    async def step(expect_change: bool = True) -> None:
        now = await _summed_circle(env)
        assert now == await _direct_circle(env, providers)
        if expect_change:
            assert now != seen[-1], "the change did not reach the circle"
        seen.append(now)

    by = {p["id"]: p for p in providers}
    # a provider approved: meal-2 beside the person at (22.8300, 108.3660) gives a meal
    by["meal-2"]["status"] = "approved"
    publish(by["meal-2"])
    await step()
    # a care provider approved beside them too: now covered
    by["care-2"]["status"] = "approved"
    publish(by["care-2"])
    await step()
    assert seen[-1][0]["covered"] == 3
    # a person moves (their location): from the uncovered spot west of meal-1 to between
    # meal-1 (821 m) and care-1 (616 m)
    r = await env.v.patch(
        f"/v1/beneficiaries/{ids[3]}",
        headers=env.officer,
        json={"lat": 22.8171, "lon": 108.3740, "reason": "搬家"},
    )
    assert r.status_code == 200, r.text
    await step()
    # a person is suspended: out of the circle altogether
    r = await env.v.post(
        f"/v1/beneficiaries/{ids[0]}/status", headers=env.officer,
        json={"status": "suspended", "reason": "暂停"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    await step()
    # the approximate one gets an exact location (a change of location kind)
    r = await env.v.patch(
        f"/v1/beneficiaries/{ids[1]}",
        headers=env.officer,
        json={"lat": 22.8300, "lon": 108.3680, "location_approximate": False, "reason": "核实"},
    )
    assert r.status_code == 200, r.text
    await step()
    # a provider suspended: meal-1 covers nobody any more
    by["meal-1"]["status"] = "suspended"
    publish(by["meal-1"])
    await step()
    # a care provider gains a meal item: care-1 is a meal point as well (616 m from the one
    # who moved, who lost meal-1)
    by["care-1"]["services"] = [
        *by["care-1"]["services"],
        {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1500},
    ]
    publish(by["care-1"])
    await step()
    # a provider moves far away: the people it served are measured again
    by["care-2"]["lat"], by["care-2"]["lon"] = 23.5, 109.5
    publish(by["care-2"])
    await step()
    # nothing changed: the sync writes nothing and the figures stay
    publish(by["care-2"])
    await step(expect_change=False)


async def test_people_moving_while_providers_change_leave_the_circle_exact(env):
    """People moving (the beneficiary trigger measures them) race provider changes (the sync
    re-measures the people near each) on real connections: whichever commits first, the
    other measures against it (the rule's row lock), so the stored circle ends equal to the
    direct count."""
    from services.voucher.service import circle_summary

    ids = [
        (await env.enrol(region_code="450103001", lat=22.8170, lon=108.3560 + i * 0.002))["id"]
        for i in range(6)
    ]
    providers = [
        _provider("meal-1", "meal_point", "approved", MEAL, True),
        _provider("care-1", "home_care", "approved", CARE, False),
    ]
    directory = env.app.state.directory
    directory.apply({"version": 30_000, "providers": providers})
    db = env.app.state.db

    async def move(i: int, lon: float) -> None:
        r = await env.v.patch(
            f"/v1/beneficiaries/{ids[i]}",
            headers=env.officer,
            json={"lat": 22.8175, "lon": lon, "reason": "搬家"},
        )
        assert r.status_code == 200, r.text

    async def provider(version: int, changed: dict) -> None:
        directory.apply({"version": version, "providers": [changed]})
        await circle_summary.sync(db, directory, meal_radius_m=1_000, care_radius_m=1_500)

    for round_ in range(3):
        new = [
            _provider(f"meal-x{round_}", "meal_point", "approved", (22.8180, 108.3760), True),
            {**providers[0], "status": "suspended" if round_ % 2 == 0 else "approved"},
        ]
        providers += [new[0]]
        providers[0] = new[1]
        await asyncio.gather(
            *(move(i, 108.3700 + (i + round_) % 6 * 0.003) for i in range(6)),
            provider(30_001 + 2 * round_, new[0]),
            provider(30_002 + 2 * round_, new[1]),
        )
        assert await _summed_circle(env) == await _direct_circle(env, providers)
