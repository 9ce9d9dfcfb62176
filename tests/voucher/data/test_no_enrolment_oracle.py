"""No enrolment oracle: a person the caller may not see answers exactly what an id nobody has
answers (404 BENEFICIARY_NOT_FOUND, the same body), on every route that reads or changes one
person — so no answer tells an officer of another city, or another elderly person, whether
someone is enrolled. A wrong role is still 403 (that reveals nothing). Nothing changes."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.voucher.data.conftest import person

ACCOUNT = {
    "bank_name": "中国工商银行南宁青秀支行",
    "account_name": "张三",
    "account_number": "6222021234567890123",
}
ASSESSMENT = {
    "scores": {"self_care": 30, "motor": 15, "mental": 25, "perception_social": 15},
    "flags": {},
    "assessed_on": date.today().isoformat(),
    "assessor": "中心",
}
PROXY = {"proxy_sub": "proxy:x", "name": "张小红", "relation": "女儿", "phone": "13700001111"}

# (method, path, body) of every officer route on one person; {id} is the person, {proxy} one
# of their proxies.
OFFICER_ROUTES = [
    ("GET", "/v1/beneficiaries/{id}", None),
    ("GET", "/v1/beneficiaries/{id}/vouchers", None),
    ("GET", "/v1/beneficiaries/{id}/cash-benefits", None),
    ("GET", "/v1/beneficiaries/{id}/proxies", None),
    ("GET", "/v1/beneficiaries/{id}/redemptions", None),
    ("POST", "/v1/beneficiaries/{id}/status", {"status": "moved", "reason": "迁出"}),
    ("GET", "/v1/beneficiaries/{id}/status-changes", None),
    (
        "POST",
        "/v1/beneficiaries/{id}/status-changes",
        {"status": "deceased", "effective_on": date.today().isoformat(), "reason": "病故"},
    ),
    ("POST", "/v1/beneficiaries/{id}/assessments", ASSESSMENT),
    ("GET", "/v1/beneficiaries/{id}/assessments", None),
    ("PATCH", "/v1/beneficiaries/{id}", {"address": "别处", "phone": "13700002222"}),
    ("GET", "/v1/beneficiaries/{id}/profile-changes", None),
    ("POST", "/v1/beneficiaries/{id}/proxies", PROXY),
    ("POST", "/v1/beneficiaries/{id}/proxies/{proxy}/revoke", None),
    ("PUT", "/v1/beneficiaries/{id}/payout-account", ACCOUNT),
    ("POST", "/v1/beneficiaries/{id}/cards", None),
    ("GET", "/v1/beneficiaries/{id}/cards", None),
]
# The routes an elderly person (or a proxy) uses for themself.
FAMILY_ROUTES = [
    ("GET", "/v1/beneficiaries/{id}", None),
    ("GET", "/v1/beneficiaries/{id}/vouchers", None),
    ("GET", "/v1/beneficiaries/{id}/cash-benefits", None),
    ("GET", "/v1/beneficiaries/{id}/redemptions", None),
    ("GET", "/v1/beneficiaries/{id}/copayments", None),
    ("POST", "/v1/beneficiaries/{id}/codes", None),
]


@pytest.fixture
async def enrolled(env):
    """A person of Nanning with a proxy; what a refused request must leave unchanged."""
    await env.appropriate(10_000_000)
    b = await env.enrol()
    p = await env.v.post(f"/v1/beneficiaries/{b['id']}/proxies", headers=env.officer, json=PROXY)
    assert p.status_code == 201, p.text
    return b["id"], p.json()["id"]


async def _call(env, method, path, body, headers):
    return await env.v.request(method, path, headers=headers, json=body)


async def _state(env):
    return await env.snapshot(), await env.fetchval("SELECT count(*) FROM card")


async def test_another_citys_officer_gets_the_answer_of_an_unknown_id(env, enrolled):
    bid, proxy_id = enrolled
    before = await _state(env)
    for method, template, body in OFFICER_ROUTES:
        real = template.format(id=bid, proxy=proxy_id)
        unknown = template.format(id=uuid.uuid4(), proxy=proxy_id)
        theirs = await _call(env, method, real, body, env.other_officer)
        nobodys = await _call(env, method, unknown, body, env.other_officer)
        assert nobodys.status_code == 404, (template, nobodys.text)
        assert nobodys.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
        assert (theirs.status_code, theirs.json()) == (404, nobodys.json()), template
        # ... and the officer of the person's region is answered (the route is real)
        if method == "GET":
            assert (await _call(env, method, real, body, env.officer)).status_code == 200
    assert await _state(env) == before


async def test_a_national_id_enrolled_in_another_city_is_not_found(env):
    body = person()
    r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
    assert r.status_code == 201, r.text
    lookup = "/v1/beneficiaries/lookup"
    theirs = await env.v.post(
        lookup, headers=env.other_officer, json={"national_id": body["national_id"]}
    )
    nobodys = await env.v.post(
        lookup, headers=env.other_officer, json={"national_id": person()["national_id"]}
    )
    assert nobodys.status_code == 404 and nobodys.json()["error"]["field"] == "national_id"
    assert (theirs.status_code, theirs.json()) == (404, nobodys.json())
    assert body["national_id"] not in theirs.text


async def test_another_person_or_their_proxy_gets_the_answer_of_an_unknown_id(
    env, enrolled, tokens
):
    bid, _ = enrolled
    other = (await env.enrol())["id"]
    before = await _state(env)
    for headers in (
        tokens.headers("beneficiary", sub=other),
        tokens.headers("proxy", sub="proxy:x", beneficiary_ids=[other]),
    ):
        for method, template, body in FAMILY_ROUTES:
            nobody = str(uuid.uuid4())
            theirs = await _call(env, method, template.format(id=bid), body, headers)
            nobodys = await _call(env, method, template.format(id=nobody), body, headers)
            assert nobodys.status_code == 404, (template, nobodys.text)
            assert (theirs.status_code, theirs.json()) == (404, nobodys.json()), template
    assert await _state(env) == before


async def test_a_wrong_role_is_still_403(env, enrolled, tokens):
    bid, _ = enrolled
    staff = tokens.headers("provider_staff", provider_id="p1")
    for method, template, body in OFFICER_ROUTES[:4]:
        for target in (bid, uuid.uuid4()):
            r = await _call(env, method, template.format(id=target), body, staff)
            assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
