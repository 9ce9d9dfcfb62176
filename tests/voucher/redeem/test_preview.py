"""POST /v1/redemptions/preview: the redemption's answer before confirming, read-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.auth import Role
from services.common.dev_keys import DEV_QR_PRIVATE_KEY
from services.common.ids import new_uuid
from services.voucher.service import codes
from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    return shared_world


@pytest.fixture
async def shop(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000, per_txn_cap_fen=3000)
    return world, term, ben, vid


async def state(world, vid):
    """Everything a preview must leave alone."""
    row = await world.conn.fetchrow(
        "SELECT balance_fen, status, day_on, day_count, day_subsidy_fen, updated_at "
        "FROM voucher WHERE id = $1",
        vid,
    )
    return dict(row), await world.counts()


async def test_preview_equals_the_later_redemption_and_changes_nothing(shop):
    world, term, ben, vid = shop
    token = qr(ben)
    before = await state(world, vid)
    p = await world.client.post(
        "/v1/redemptions/preview",
        headers=term.headers,
        json={"token": token, "service_code": "CARE_BATH", "gross_fen": 8000},
    )
    assert p.status_code == 200, p.text
    answer = p.json()
    # when the code expires (the cashier's countdown, also for typed short digits)
    expires = datetime.fromisoformat(answer.pop("code_expires_at"))
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=61)
    # whose code it is, masked for the cashier to check with the person (测试 -> 测*)
    assert answer.pop("beneficiary_name_masked") == "测*" and "测试" not in p.text
    assert answer == {
        "subsidy_fen": 3000,
        "copay_fen": 5000,
        "balance_fen": 47_000,
        "voucher_id": str(vid),
        "program_code": "disability_subsidy",
        "gross_fen": 8000,
        "items": [
            {
                "service_code": "CARE_BATH",
                "name": "助浴",
                "unit": "",
                "category": "bathing",
                "quantity": 1,
                "unit_price_fen": 8000,
                "amount_fen": 8000,
            }
        ],
        "price_list_version": 0,
    }
    # Again: still the same (no nonce consumed, no day counter moved).
    again = await world.client.post(
        "/v1/redemptions/preview",
        headers=term.headers,
        json={"token": token, "service_code": "CARE_BATH", "gross_fen": 8000},
    )
    assert again.json() == p.json()
    assert await state(world, vid) == before
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": token,
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201, r.text
    redeemed = r.json()
    assert {k: redeemed[k] for k in ("subsidy_fen", "copay_fen", "balance_fen", "voucher_id")} == {
        k: p.json()[k] for k in ("subsidy_fen", "copay_fen", "balance_fen", "voucher_id")
    }
    # Now the code is used: the preview says so, as the redemption would.
    used = await world.client.post(
        "/v1/redemptions/preview",
        headers=term.headers,
        json={"token": token, "service_code": "CARE_BATH", "gross_fen": 8000},
    )
    assert used.status_code == 409 and used.json()["error"]["code"] == "TOKEN_USED"


async def test_preview_follows_the_day_limits_the_redemption_uses(world):
    pid = world.add_provider(kind="meal_point")
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(
        ben,
        face_fen=31_000,
        ratio_bp=None,
        per_use_fen=500,
        day_limit_count=1,
        kinds=("meal_point",),
        categories=("meal",),
        program_code="meal_assistance",
    )
    meal = {"service_code": "MEAL_LUNCH", "gross_fen": 1500}
    p = await world.client.post(
        "/v1/redemptions/preview", headers=term.headers, json={"token": qr(ben), **meal}
    )
    skip = ("items", "price_list_version", "code_expires_at", "beneficiary_name_masked")
    assert {k: v for k, v in p.json().items() if k not in skip} == {
        "subsidy_fen": 500,
        "copay_fen": 1000,
        "balance_fen": 30_500,
        "voucher_id": str(vid),
        "program_code": "meal_assistance",
        "gross_fen": 1500,
    }
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={"token": qr(ben), "idempotency_key": key(), **meal},
    )
    assert r.status_code == 201
    p = await world.client.post(
        "/v1/redemptions/preview", headers=term.headers, json={"token": qr(ben), **meal}
    )
    assert p.status_code == 422 and p.json()["error"]["code"] == "DAILY_LIMIT_REACHED"
    # with the figure it was refused on, for the counter to say (web: "每天最多用 1 次")
    assert p.json()["error"]["details"] == {"day_limit_count": 1}
    r = await world.client.post(  # the redemption itself says the same
        "/v1/redemptions",
        headers=term.headers,
        json={"token": qr(ben), "idempotency_key": key(), **meal},
    )
    assert r.status_code == 422 and r.json()["error"]["details"] == {"day_limit_count": 1}


async def test_preview_refuses_exactly_as_the_redemption_does_and_changes_nothing(world):
    home = world.add_provider()
    term = world.add_terminal(home)
    far = world.add_terminal(world.add_provider(region="450203"))
    closed = world.add_terminal(world.add_provider(status="suspended"))
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=50_000)
    empty_person = await world.add_beneficiary()
    await world.add_voucher(empty_person, balance_fen=0, status="exhausted")
    frozen = await world.add_beneficiary(status="suspended")
    nobody = await world.add_beneficiary()
    old = codes.issue_dynamic(
        DEV_QR_PRIVATE_KEY, ben, 60, datetime.now(UTC) - timedelta(minutes=5)
    ).text
    good = qr(ben)
    tampered = good[:40] + ("A" if good[40] != "A" else "B") + good[41:]
    bath = {"service_code": "CARE_BATH", "gross_fen": 8000}
    cases = [
        (term, {"token": old, **bath}, 422, "TOKEN_EXPIRED", "token"),
        (term, {"token": tampered, **bath}, 422, "TOKEN_INVALID", "token"),
        (term, {"token": qr(new_uuid()), **bath}, 422, "TOKEN_INVALID", "token"),
        (far, {"token": qr(ben), **bath}, 422, "PROVIDER_OUT_OF_AREA", "provider_id"),
        (closed, {"token": qr(ben), **bath}, 403, "PROVIDER_NOT_APPROVED", "provider_id"),
        (
            term,
            {"token": qr(ben), "service_code": "GOLF", "gross_fen": 8000},
            422,
            "SERVICE_NOT_OFFERED",
            "service_code",
        ),
        (
            term,
            {"token": qr(ben), "service_code": "MEAL_LUNCH", "gross_fen": 1500},
            422,
            "NO_USABLE_VOUCHER",
            None,
        ),
        (term, {"token": qr(empty_person), **bath}, 422, "VOUCHER_EXHAUSTED", None),
        (term, {"token": qr(frozen), **bath}, 422, "BENEFICIARY_NOT_ACTIVE", None),
        (term, {"token": qr(nobody), **bath}, 422, "NO_USABLE_VOUCHER", None),
        (
            term,
            {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 1},
            422,
            "BILL_TOO_SMALL",
            "gross_fen",
        ),
        (
            term,
            {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 0},
            422,
            "VALIDATION_ERROR",
            "gross_fen",
        ),
        (
            term,
            {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": "80"},
            422,
            "VALIDATION_ERROR",
            "gross_fen",
        ),
        (
            term,
            # (CARE_BATH is priced per bill: its price is the gross_fen of the single form)
            {"token": qr(ben), "service_code": "CARE_BATH"},
            422,
            "AMOUNT_REQUIRED",
            "gross_fen",
        ),
    ]
    before = await state(world, vid)
    for terminal, body, status, code, field in cases:
        p = await world.client.post("/v1/redemptions/preview", headers=terminal.headers, json=body)
        assert (p.status_code, p.json()["error"]["code"]) == (status, code), (body, p.text)
        assert p.json()["error"].get("field") == field, (body, p.text)
        r = await world.client.post(
            "/v1/redemptions", headers=terminal.headers, json={**body, "idempotency_key": key()}
        )
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    # An idempotency key has no place in a preview.
    p = await world.client.post(
        "/v1/redemptions/preview",
        headers=term.headers,
        json={"token": qr(ben), **bath, "idempotency_key": key()},
    )
    assert p.status_code == 422 and p.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await state(world, vid) == before


async def test_only_a_terminal_may_preview(shop, tokens):
    world, term, ben, vid = shop
    body = {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 8000}
    for headers in (
        tokens.headers(Role.provider_admin, provider_id=term.provider_id),
        tokens.headers(Role.provider_staff, provider_id=term.provider_id),
        tokens.headers(Role.civil_affairs, region="450000"),
        tokens.headers(Role.beneficiary, sub=str(ben)),
    ):
        r = await world.client.post("/v1/redemptions/preview", headers=headers, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await world.client.post("/v1/redemptions/preview", json=body)
    assert r.status_code == 401
    revoked = world.add_terminal(term.provider_id, status="revoked")
    r = await world.client.post("/v1/redemptions/preview", headers=revoked.headers, json=body)
    assert r.status_code == 401
    assert await world.balance(vid) == 50_000


async def test_a_card_preview_needs_its_pin(world, tokens):
    term = world.add_terminal(world.add_provider())
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    officer = tokens.headers(Role.civil_affairs, region="450100")
    card = (await world.client.post(f"/v1/beneficiaries/{ben}/cards", headers=officer)).json()
    body = {"token": card["token"], "service_code": "CARE_BATH", "gross_fen": 1000}
    r = await world.client.post("/v1/redemptions/preview", headers=term.headers, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "PIN_REQUIRED"
    r = await world.client.post(
        "/v1/redemptions/preview", headers=term.headers, json={**body, "pin": card["pin"]}
    )
    assert r.status_code == 200 and r.json()["subsidy_fen"] == 500
    assert await world.balance(vid) == 50_000
