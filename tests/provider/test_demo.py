"""Demo providers: deterministic, valid, every kind in each of the 14 cities, loadable through
the public API."""

from collections import Counter

from services.common.regions import region_covers
from services.demo_providers import CITY_CODES, demo_providers
from services.provider.schemas import ProviderCreate
from services.provider.service import uscc
from services.provider.service.registry import check_region
from services.provider.service.vocabulary import ProviderKind


def test_deterministic_and_valid_everywhere():
    first = demo_providers()
    assert first == demo_providers()
    assert demo_providers(seed=7) != first
    assert len(first) == 14 * 5
    for body in first:
        ProviderCreate.model_validate(body)
        assert uscc.is_valid(body["uscc"]), body["uscc"]
        check_region(body["region_code"])
        assert body["uscc"][2:8] == body["region_code"]
    assert len({b["uscc"] for b in first}) == len(first)
    per_city = Counter(
        (city, b["kind"])
        for b in first
        for city in CITY_CODES
        if region_covers(city, b["region_code"])
    )
    assert set(per_city) == {(c, k.value) for c in CITY_CODES for k in ProviderKind}


def test_more_per_city_stay_distinct():
    many = demo_providers(3)
    assert len(many) == 14 * 5 * 3
    assert len({b["uscc"] for b in many}) == len(many)


async def test_the_demo_loads_through_the_api_and_is_found_nearby(ctx, tokens):
    province = tokens.headers("civil_affairs", region="450000")
    for body in demo_providers():
        r = await ctx.c.post("/v1/providers", json=body, headers=province)
        assert r.status_code == 201, r.text
        r = await ctx.c.post(
            f"/v1/providers/{r.json()['id']}/approve", json={"reason": "演示数据"}, headers=province
        )
        assert r.status_code == 200
    # Loading again is refused, not duplicated.
    r = await ctx.c.post("/v1/providers", json=demo_providers()[0], headers=province)
    assert r.json()["error"]["code"] == "USCC_ALREADY_REGISTERED"
    # Near 青秀区's centre, within 5 km, something is found.
    r = await ctx.c.get(
        "/v1/providers",
        params={"lat": 22.785, "lon": 108.494, "radius_m": 5000},
        headers=tokens.headers("beneficiary"),
    )
    assert r.status_code == 200 and r.json()["items"]
