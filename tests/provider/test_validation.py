"""Bad applications get a clear 4xx naming the field, and change nothing."""

import pytest

from tests.provider.conftest import application, valid_uscc


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


def _bad(**changes):
    body = application()
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            body[outer] = {**body[outer], inner: value}
        elif value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


GOOD = application()
WRONG_CHECK = GOOD["uscc"][:-1] + ("0" if GOOD["uscc"][-1] != "0" else "1")


BAD_APPLICATIONS = [
    (_bad(uscc=WRONG_CHECK), 422, "INVALID_USCC", "uscc"),
    (_bad(uscc="91450103MA00000"), 422, "INVALID_USCC", "uscc"),
    (_bad(region_code="459999"), 422, "UNKNOWN_REGION", "region_code"),
    (_bad(region_code="45010"), 422, "UNKNOWN_REGION", "region_code"),
    (_bad(region_code="440300"), 422, "UNKNOWN_REGION", "region_code"),
    (_bad(kind="hospital"), 422, "VALIDATION_ERROR", "kind"),
    (_bad(name=...), 422, "VALIDATION_ERROR", "name"),
    (_bad(lat=91), 422, "VALIDATION_ERROR", "lat"),
    (_bad(lon="east"), 422, "VALIDATION_ERROR", "lon"),
    (_bad(services=[]), 422, "VALIDATION_ERROR", "services"),
    (
        _bad(services=[{"code": "MEAL", "name": "午餐", "category": "meal", "price_fen": 15.5}]),
        422,
        "VALIDATION_ERROR",
        "services.0.price_fen",
    ),
    (
        _bad(services=[{"code": "MEAL", "name": "午餐", "category": "meal", "price_fen": 0}]),
        422,
        "VALIDATION_ERROR",
        "services.0.price_fen",
    ),
    (
        _bad(services=[{"code": "MEAL", "name": "午餐", "category": "karaoke", "price_fen": 100}]),
        422,
        "VALIDATION_ERROR",
        "services.0.category",
    ),
    (
        _bad(
            services=[
                {"code": "MEAL", "name": "午餐", "category": "meal", "price_fen": 100},
                {"code": "MEAL", "name": "晚餐", "category": "meal", "price_fen": 100},
            ]
        ),
        422,
        "VALIDATION_ERROR",
        "services",
    ),
    (
        _bad(**{"bank_account.account_number": "6222-0212"}),
        422,
        "VALIDATION_ERROR",
        "bank_account.account_number",
    ),
    (_bad(**{"contact.phone": "12345"}), 422, "VALIDATION_ERROR", "contact.phone"),
    (_bad(surprise=1), 422, "FIELD_NOT_ALLOWED", "surprise"),
]


async def test_bad_applications_are_refused_and_change_nothing(ctx):
    # One database for every case (each case is checked to change nothing in it).
    before = await ctx.counts()
    for body, status, code, field in BAD_APPLICATIONS:
        r = await ctx.c.post("/v1/providers", json=body, headers=ctx.officer)
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert field == err["field"], (field, err)
        codes = (err["code"], *(p["code"] for p in err.get("details", {}).get("problems", [])))
        assert code in codes, (code, err)
        # Sensitive input is never echoed back.
        assert "6222021234567890123" not in r.text and "13812345678" not in r.text
        assert await ctx.counts() == before


async def test_a_region_outside_the_province_is_refused(ctx, monkeypatch):
    from services.common import settings as common_settings

    monkeypatch.setattr(common_settings.get_common_settings(), "province_code", "440000")
    before = await ctx.counts()
    r = await ctx.c.post("/v1/providers", json=application(), headers=ctx.officer)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "REGION_OUTSIDE_PROVINCE"
    assert await ctx.counts() == before


async def test_a_code_registered_twice_is_refused(ctx):
    code = valid_uscc(990001)
    await ctx.apply(uscc=code)
    before = await ctx.counts()
    r = await ctx.c.post("/v1/providers", json=application(uscc=code), headers=ctx.officer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "USCC_ALREADY_REGISTERED"
    assert await ctx.counts() == before


async def test_malformed_json_is_a_4xx(ctx):
    r = await ctx.c.post(
        "/v1/providers",
        content=b"{not json",
        headers={**ctx.officer, "content-type": "application/json"},
    )
    assert r.status_code == 422
    # the body is what is wrong, not a field named by the parser's character position
    error = r.json()["error"]
    assert error["field"] == "body", error
    assert error["details"]["problems"][0]["code"] == "MALFORMED_JSON", error


async def test_other_roles_cannot_apply(ctx, tokens):
    before = await ctx.counts()
    for role, scope in [
        ("beneficiary", {}),
        ("finance", {"region": "450000"}),
        ("auditor", {}),
        ("provider_staff", {}),
        ("service", {}),
    ]:
        r = await ctx.c.post(
            "/v1/providers", json=application(), headers=tokens.headers(role, **scope)
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert await ctx.counts() == before


async def test_an_officer_applies_only_within_their_region(ctx, tokens):
    before = await ctx.counts()
    liuzhou = tokens.headers("civil_affairs", region="450200")
    r = await ctx.c.post("/v1/providers", json=application(), headers=liuzhou)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    assert await ctx.counts() == before


async def test_concurrent_applications_with_one_code_register_once(ctx):
    import asyncio

    code = valid_uscc(990077)
    results = await asyncio.gather(
        *[
            ctx.c.post("/v1/providers", json=application(uscc=code), headers=ctx.officer)
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {
        "USCC_ALREADY_REGISTERED"
    }
    assert await ctx.fetchval("SELECT count(*) FROM provider WHERE uscc = $1", code) == 1
