"""Nearby search: approved providers within the radius, nearest first, by kind and category,
answered through the GiST index."""

import math
import uuid

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from services.common.db import Database, asyncpg_connect_kwargs
from services.provider.repository import search as search_repo
from services.provider.service.geo import EARTH_RADIUS_M, bounding_box

# A point in 青秀区, Nanning.
LAT, LON = 22.8170, 108.3660


def north(metres: float) -> float:
    return LAT + math.degrees(metres / EARTH_RADIUS_M)


def east(metres: float) -> float:
    return LON + math.degrees(metres / (EARTH_RADIUS_M * math.cos(math.radians(LAT))))


async def test_nearest_first_within_the_radius_with_distance(ctx, tokens):
    far = await ctx.approved(name="远处", lat=north(900), lon=LON)
    near = await ctx.approved(name="近处", lat=LAT, lon=east(200))
    mid = await ctx.approved(name="中间", lat=north(-500), lon=LON)
    await ctx.approved(name="圈外", lat=north(1100), lon=LON)
    await ctx.apply(name="未批准", lat=LAT, lon=east(50))  # applied, not approved
    suspended = await ctx.approved(name="已暂停", lat=LAT, lon=east(60))
    await ctx.c.post(
        f"/v1/providers/{suspended}/suspend", json={"reason": "x"}, headers=ctx.officer
    )

    elder = tokens.headers("beneficiary", sub="b1")
    r = await ctx.c.get("/v1/providers", params={"lat": LAT, "lon": LON}, headers=elder)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [near, mid, far]  # default radius 1,000 m
    assert [i["distance_m"] for i in items] == [200, 500, 900]
    assert items[0]["services"][0]["code"] == "MEAL_LUNCH"

    r = await ctx.c.get(
        "/v1/providers", params={"lat": LAT, "lon": LON, "radius_m": 600}, headers=elder
    )
    assert [i["id"] for i in r.json()["items"]] == [near, mid]
    r = await ctx.c.get(
        "/v1/providers",
        params={"lat": LAT, "lon": LON, "radius_m": 2000, "limit": 2},
        headers=elder,
    )
    assert [i["id"] for i in r.json()["items"]] == [near, mid]


async def test_filters_by_kind_and_category(ctx, tokens):
    meal = await ctx.approved(lat=north(100), lon=LON)
    home = await ctx.approved(
        kind="home_care",
        lat=north(300),
        lon=LON,
        services=[
            {
                "code": "HOME_HOUR",
                "name": "居家上门服务",
                "category": "home_care_hours",
                "unit": "小时",
                "price_fen": 4000,
            }
        ],
    )
    h = tokens.headers("proxy", sub="p1")
    r = await ctx.c.get(
        "/v1/providers", params={"lat": LAT, "lon": LON, "kind": "home_care"}, headers=h
    )
    assert [i["id"] for i in r.json()["items"]] == [home]
    r = await ctx.c.get(
        "/v1/providers", params={"lat": LAT, "lon": LON, "category": "meal"}, headers=h
    )
    assert [i["id"] for i in r.json()["items"]] == [meal]
    r = await ctx.c.get(
        "/v1/providers", params={"lat": LAT, "lon": LON, "category": "institution_stay"}, headers=h
    )
    assert r.json()["items"] == []


async def test_bad_queries_are_4xx_and_anonymous_is_refused(ctx, tokens):
    h = tokens.headers("beneficiary", sub="b1")
    for params, field in [
        ({"lat": 95, "lon": LON}, "lat"),
        ({"lon": LON}, "lat"),
        ({"lat": LAT, "lon": "x"}, "lon"),
        ({"lat": LAT, "lon": LON, "radius_m": 0}, "radius_m"),
        ({"lat": LAT, "lon": LON, "radius_m": 10**6}, "radius_m"),
        ({"lat": LAT, "lon": LON, "kind": "spa"}, "kind"),
        ({"lat": LAT, "lon": LON, "limit": 0}, "limit"),
    ]:
        r = await ctx.c.get("/v1/providers", params=params, headers=h)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field
    r = await ctx.c.get("/v1/providers", params={"lat": LAT, "lon": LON})
    assert r.status_code == 401


def test_the_bounding_box_holds_the_whole_circle():
    for lat in (0.0, 22.8, 45.0, 70.0):
        min_lon, min_lat, max_lon, max_lat = bounding_box(lat, 108.0, 5000)
        for bearing in range(0, 360, 5):
            b = math.radians(bearing)
            d = 4999.0 / EARTH_RADIUS_M
            # Destination point on a sphere at distance d along the bearing.
            la1 = math.radians(lat)
            la2 = math.asin(math.sin(la1) * math.cos(d) + math.cos(la1) * math.sin(d) * math.cos(b))
            lo2 = math.radians(108.0) + math.atan2(
                math.sin(b) * math.sin(d) * math.cos(la1),
                math.cos(d) - math.sin(la1) * math.sin(la2),
            )
            assert min_lat <= math.degrees(la2) <= max_lat
            assert min_lon <= math.degrees(lo2) <= max_lon


async def test_the_search_uses_the_gist_index_on_100000_providers(ctx):
    """EXPLAIN on 100,000 approved providers spread over Guangxi: the bounding box is answered
    by the GiST index (no sequential scan of the provider table)."""
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ctx.owner_url))
    try:
        await conn.execute(
            """
            INSERT INTO provider (id, name, kind, uscc, region_code, address, lat, lon,
                contact_name, contact_phone_enc, contact_phone_masked, bank_name,
                bank_account_name, bank_account_number_enc, bank_account_number_masked,
                status, version, created_by)
            SELECT gen_random_uuid(), 'p' || g, 'meal_point',
                   '91450103' || lpad(g::text, 10, '0'), '450103', 'addr',
                   -- the last 20 within a few hundred metres of the search point
                   CASE WHEN g > 99980 THEN $1 + (random() - 0.5) * 0.008
                        ELSE 21.5 + random() * 4 END,
                   CASE WHEN g > 99980 THEN $2 + (random() - 0.5) * 0.008
                        ELSE 105.5 + random() * 6 END,
                   'c', '\\x00', 'm', 'b', 'a', '\\x00', 'm', 'approved', 0, 'bench'
            FROM generate_series(1, 100000) g""",
            LAT,
            LON,
        )
        await conn.execute("ANALYZE provider")
    finally:
        await conn.close()
    # The statement as the app sends it (a prepared statement with parameters), planned both
    # ways PostgreSQL may plan it: for these values, and generic (a reused prepared statement).
    query = search_repo.nearby_query(lat=LAT, lon=LON, radius_m=1000, limit=50)
    compiled = query.compile(dialect=asyncpg_dialect(), compile_kwargs={"render_postcompile": True})
    args = ", ".join(repr(compiled.params[name]) for name in compiled.positiontup or ())
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ctx.owner_url))
    try:
        await conn.execute(f"PREPARE nearby AS {compiled}")
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE nearby({args})"))
            assert "ix_provider_location_approved" in plan, (mode, plan)
            assert "Seq Scan on provider" not in plan, (mode, plan)
    finally:
        await conn.close()
    db = Database(ctx.owner_url)
    try:
        async with db.sessionmaker() as session:
            found = await search_repo.nearby(
                session, lat=LAT, lon=LON, radius_m=1000, kind=None, category=None, limit=50
            )
            assert len(found) >= 20 and all(r.distance_m <= 1000 for r in found)
            assert [r.distance_m for r in found] == sorted(r.distance_m for r in found)
    finally:
        await db.dispose()


async def _register_of_three(ctx, tokens) -> tuple[str, str, str]:
    """Applied in Nanning, approved in Nanning, applied in Liuzhou (another city)."""
    a = await ctx.apply()
    b = await ctx.approved(region_code="450102")
    c = await ctx.apply(
        region_code="450202",
        name="柳州的",
        headers=tokens.headers("civil_affairs", region="450200"),
    )
    return a, b, c


async def test_the_register_lists_every_status_within_scope(ctx, tokens):
    a, b, c = await _register_of_three(ctx, tokens)
    officer = ctx.officer  # Nanning, 450100
    r = await ctx.c.get("/v1/providers", params={"status": "applied"}, headers=officer)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [a]
    r = await ctx.c.get("/v1/providers", headers=officer)
    assert [i["id"] for i in r.json()["items"]] == [a, b]
    r = await ctx.c.get("/v1/providers", params={"region_code": "450102"}, headers=officer)
    assert [i["id"] for i in r.json()["items"]] == [b]
    r = await ctx.c.get("/v1/providers", params={"region_code": "450200"}, headers=officer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"

    auditor = tokens.headers("auditor")
    r = await ctx.c.get("/v1/providers", params={"limit": 2}, headers=auditor)
    page = r.json()
    assert [i["id"] for i in page["items"]] == [a, b] and page["next_cursor"] == b
    r = await ctx.c.get("/v1/providers", params={"limit": 2, "cursor": b}, headers=auditor)
    assert [i["id"] for i in r.json()["items"]] == [c] and r.json()["next_cursor"] is None

    r = await ctx.c.get("/v1/providers", headers=ctx.admin(c))
    assert [i["id"] for i in r.json()["items"]] == [c]
    r = await ctx.c.get("/v1/providers", headers=tokens.headers("beneficiary"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "lat"
    r = await ctx.c.get("/v1/providers", params={"cursor": "x"}, headers=auditor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"


async def test_the_register_names_the_providers_asked_for_within_scope(ctx, tokens):
    a, b, elsewhere = await _register_of_three(ctx, tokens)
    finance = tokens.headers("finance", region="450100")
    ask = [("id", a), ("id", b), ("id", elsewhere), ("id", str(uuid.uuid4()))]
    r = await ctx.c.get("/v1/providers", params=ask, headers=finance)
    assert r.status_code == 200, r.text
    # Nanning's finance gets Nanning's two; Liuzhou's provider and an unknown id are absent.
    assert [i["id"] for i in r.json()["items"]] == sorted([a, b])
    r = await ctx.c.get("/v1/providers", params=ask, headers=tokens.headers("auditor"))
    assert {i["id"] for i in r.json()["items"]} == {a, b, elsewhere}
    # A provider's own people see their own provider only, whatever they ask for.
    r = await ctx.c.get("/v1/providers", params=ask, headers=ctx.admin(b))
    assert [i["id"] for i in r.json()["items"]] == [b]

    r = await ctx.c.get("/v1/providers", params={"id": "not-an-id"}, headers=finance)
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    many = [("id", str(uuid.uuid4())) for _ in range(501)]
    r = await ctx.c.get("/v1/providers", params=many, headers=finance)
    assert r.status_code == 422 and r.json()["error"]["field"] == "id"
