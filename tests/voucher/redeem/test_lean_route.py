"""POST /v1/redemptions is served by its lean handler, yet documented and answered exactly
like a declared FastAPI route (behaviour: tests/voucher/redeem/test_redemption.py)."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from services.voucher.api.redemptions import LeanRedemptionRoute, _redeem_lean
from services.voucher.api.redemptions import router as redemption_router
from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    return shared_world


async def test_the_route_is_lean_and_still_in_the_openapi_document(world):
    routes = [
        r
        for r in redemption_router.routes
        if isinstance(r, APIRoute) and r.path == "/redemptions" and "POST" in r.methods
    ]
    assert len(routes) == 1 and isinstance(routes[0], LeanRedemptionRoute)
    assert routes[0].get_route_handler() is _redeem_lean
    first = world.app.router.routes[0]
    assert (first.path, first.methods, first.endpoint) == (
        "/v1/redemptions",
        {"POST"},
        _redeem_lean,
    )
    # GET /v1/redemptions (a provider's day) still reaches its own route behind it.
    r = await world.client.get("/v1/redemptions", params={"provider_id": "x", "date": "2026-11-23"})
    assert r.status_code == 401
    doc = (await world.client.get("/openapi.json")).json()
    op = doc["paths"]["/v1/redemptions"]["post"]
    assert "Redeem a scanned code" in op["description"] + op.get("summary", "")
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RedemptionCreate"
    )
    assert {"201", "200", "409", "422"} <= set(op["responses"])
    assert op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RedemptionCreated"
    )


async def test_empty_and_non_object_bodies_are_clear_422s_and_change_nothing(world):
    term = world.add_terminal(world.add_provider())
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    before = await world.counts()
    for content in (b"", b"[1, 2]", b'"text"', b'{"token": '):
        r = await world.client.post(
            "/v1/redemptions",
            content=content,
            headers={**term.headers, "content-type": "application/json"},
        )
        assert r.status_code == 422, (content, r.text)
        err = r.json()["error"]
        assert err["code"] == "VALIDATION_ERROR" and err["field"] == "body", (content, err)
    assert await world.counts() == before and await world.balance(vid) == 50_000


async def test_auth_comes_before_the_body_and_answers_are_json(world, tokens):
    term = world.add_terminal(world.add_provider())
    ben = await world.add_beneficiary()
    await world.add_voucher(ben)
    r = await world.client.post("/v1/redemptions", content=b"{bad")
    assert r.status_code == 401
    ok = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert ok.status_code == 201 and ok.headers["content-type"] == "application/json"
    assert set(ok.json()) == {
        "id",
        "subsidy_fen",
        "copay_fen",
        "balance_fen",
        "voucher_id",
        "gross_fen",
    }
