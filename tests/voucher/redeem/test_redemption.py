"""POST /v1/redemptions over HTTP: the answer, the event, replays, every refusal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from services.common.auth import Role
from services.common.dev_keys import DEV_QR_PRIVATE_KEY
from services.voucher.service import codes
from services.voucher.service.periods import tz
from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    """This module's tests share one database (they count relative to their start)."""
    return shared_world


@pytest.fixture
async def shop(world):
    """An approved community facility with a terminal, a person with a 500-yuan voucher."""
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000)
    return world, term, ben, vid


def body(ben, **over):
    b = {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 8000, "idempotency_key": key()}
    b.update(over)
    return b


async def test_redemption_pays_the_share_and_writes_the_ledger_event(shop):
    world, term, ben, vid = shop
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=body(ben))
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["subsidy_fen"], out["copay_fen"], out["balance_fen"]) == (4000, 4000, 46000)
    assert out["voucher_id"] == str(vid)
    assert await world.balance(vid) == 46000
    red = await world.conn.fetchrow("SELECT * FROM redemption WHERE id = $1::uuid", out["id"])
    assert red["provider_id"] == term.provider_id and red["terminal_id"] == term.id
    assert red["category"] == "bathing" and red["status"] == "completed"
    ev = await world.conn.fetchrow(
        "SELECT type, payload::text AS p FROM outbox WHERE payload->>'redemption_id' = $1",
        out["id"],
    )
    assert ev["type"] == "redemption.created"
    payload = orjson.loads(ev["p"])
    assert payload == {
        "program_code": "disability_subsidy",
        "region_code": "450103",
        "budget_region_code": "450100",
        "period": "2026-11",
        "funding_shares": {"central": 9500, "regional": 500},
        "redemption_id": out["id"],
        "voucher_id": str(vid),
        "beneficiary_id": str(ben),
        "provider_id": term.provider_id,
        "service_code": "CARE_BATH",
        "gross_fen": 8000,
        "subsidy_fen": 4000,
        "copay_fen": 4000,
        "terminal_id": term.id,  # who made it, for the ledger's entry (issue 21)
        "staff_id": None,  # this terminal did not say
    }


async def test_same_key_same_body_returns_the_original_answer_and_moves_money_once(shop):
    world, term, ben, vid = shop
    b = body(ben)
    first = await world.client.post("/v1/redemptions", headers=term.headers, json=b)
    assert first.status_code == 201
    for _ in range(3):
        again = await world.client.post("/v1/redemptions", headers=term.headers, json=b)
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
    assert await world.balance(vid) == 46000
    assert await world.counts() == (1, 1, 1)


async def test_same_key_different_body_is_409_and_changes_nothing(shop):
    world, term, ben, vid = shop
    b = body(ben)
    assert (
        await world.client.post("/v1/redemptions", headers=term.headers, json=b)
    ).status_code == 201
    other = dict(b, gross_fen=9000)
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=other)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert r.json()["error"]["field"] == "idempotency_key"
    # Also with a fresh token under the old key.
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=dict(b, token=qr(ben))
    )
    assert r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await world.balance(vid) == 46000
    assert await world.counts() == (1, 1, 1)


async def test_a_replay_after_the_code_expired_still_gets_the_original_answer(shop):
    world, term, ben, _vid = shop
    token = codes.issue_dynamic(DEV_QR_PRIVATE_KEY, ben, 4)
    b = body(ben, token=token.text)
    first = await world.client.post("/v1/redemptions", headers=term.headers, json=b)
    assert first.status_code == 201
    wait = (token.expires_at - datetime.now(UTC)).total_seconds() + 0.2
    await asyncio.sleep(max(wait, 0))
    fresh = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=dict(b, idempotency_key=key())
    )
    assert fresh.json()["error"]["code"] == "TOKEN_EXPIRED"
    again = await world.client.post("/v1/redemptions", headers=term.headers, json=b)
    assert again.status_code == 200 and again.json() == first.json()


async def refusal(world, term, b, status, code, field=None):
    before = await world.counts()
    balances = await world.conn.fetch("SELECT id, balance_fen, day_count FROM voucher ORDER BY id")
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=b)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    if field:
        assert err["field"] == field
    assert await world.counts() == before
    assert (
        await world.conn.fetch("SELECT id, balance_fen, day_count FROM voucher ORDER BY id")
        == balances
    )
    return err


async def test_token_used_twice_is_refused(shop):
    world, term, ben, _vid = shop
    token = qr(ben)
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=body(ben, token=token)
    )
    assert r.status_code == 201
    await refusal(world, term, body(ben, token=token), 409, "TOKEN_USED", "token")


async def test_expired_and_forged_tokens_are_refused(shop):
    world, term, ben, _vid = shop
    old = codes.issue_dynamic(
        DEV_QR_PRIVATE_KEY, ben, 60, datetime.now(UTC) - timedelta(minutes=5)
    ).text
    await refusal(world, term, body(ben, token=old), 422, "TOKEN_EXPIRED", "token")
    good = qr(ben)
    tampered = good[:40] + ("A" if good[40] != "A" else "B") + good[41:]
    await refusal(world, term, body(ben, token=tampered), 422, "TOKEN_INVALID", "token")
    await refusal(world, term, body(ben, token="NOT-BASE32!"), 422, "TOKEN_INVALID", "token")
    await refusal(world, term, body(ben, token=good[:-8]), 422, "TOKEN_INVALID", "token")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other_key = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    forged = codes.issue_dynamic(other_key, ben, 60).text
    await refusal(world, term, body(ben, token=forged), 422, "TOKEN_INVALID", "token")


async def test_unknown_person_is_token_invalid(shop):
    world, term, _ben, _vid = shop
    from services.common.ids import new_uuid

    await refusal(world, term, body(new_uuid()), 422, "TOKEN_INVALID", "token")


async def test_provider_not_approved_and_service_not_offered(shop):
    world, term, ben, _vid = shop
    await refusal(
        world, term, body(ben, service_code="NO_SUCH"), 422, "SERVICE_NOT_OFFERED", "service_code"
    )
    world.set_provider_status(term.provider_id, "suspended")
    await refusal(world, term, body(ben), 403, "PROVIDER_NOT_APPROVED")


async def test_beneficiary_not_active_freezes_the_voucher(shop):
    world, term, ben, vid = shop
    await world.conn.execute("UPDATE beneficiary SET status = 'suspended' WHERE id = $1", ben)
    await refusal(world, term, body(ben), 422, "BENEFICIARY_NOT_ACTIVE")
    assert await world.conn.fetchval("SELECT status FROM voucher WHERE id = $1", vid) == "suspended"


async def test_a_deceased_person_is_refused_as_such(shop):
    world, term, ben, _vid = shop
    await world.conn.execute("UPDATE beneficiary SET status = 'deceased' WHERE id = $1", ben)
    await refusal(world, term, body(ben), 422, "BENEFICIARY_DECEASED")


async def test_the_statement_skips_a_voucher_paused_for_a_hospital_stay(shop):
    """The pause is on the voucher row the statement locks (repository/redemption.py REDEEM);
    the person's window on the beneficiary row explains the refusal (DIAGNOSE)."""
    world, term, ben, vid = shop
    today = datetime.now(UTC).astimezone(tz()).date()
    for since, until in ((today, today), (today - timedelta(days=9), None)):
        await world.conn.execute(
            "UPDATE voucher SET paused_from = $2, paused_until = $3 WHERE id = $1",
            vid,
            since,
            until,
        )
        await world.conn.execute(
            "UPDATE beneficiary SET paused_from = $2, paused_until = $3 WHERE id = $1",
            ben,
            since,
            until,
        )
        await refusal(world, term, body(ben), 422, "BENEFICIARY_PAUSED")
    # a stay that ended yesterday pauses nothing
    yesterday = today - timedelta(days=1)
    await world.conn.execute(
        "UPDATE voucher SET paused_from = $2, paused_until = $2 WHERE id = $1", vid, yesterday
    )
    await world.conn.execute(
        "UPDATE beneficiary SET paused_from = $2, paused_until = $2 WHERE id = $1", ben, yesterday
    )
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=body(ben))
    assert r.status_code == 201, r.text


async def test_no_usable_voucher_for_this_kind_category_or_window(world):
    meal = world.add_provider(kind="meal_point")
    term = world.add_terminal(meal)
    ben = await world.add_beneficiary()
    # A care voucher does not pay for lunch at a meal point...
    await world.add_voucher(ben, categories=("bathing",), kinds=("community_embedded",))
    lunch = {"service_code": "MEAL_LUNCH", "gross_fen": 1500}
    await refusal(world, term, body(ben, **lunch), 422, "NO_USABLE_VOUCHER")
    # ... nor does a meal voucher outside its window.
    past = datetime.now(UTC) - timedelta(days=40)
    await world.add_voucher(
        ben,
        program_code="meal_assistance",
        per_use_fen=500,
        ratio_bp=None,
        kinds=("meal_point",),
        categories=("meal",),
        valid_from=past,
        valid_until=past + timedelta(days=30),
        period="2026-10",
    )
    await refusal(world, term, body(ben, **lunch), 422, "NO_USABLE_VOUCHER")


async def test_exhausted_voucher(shop):
    world, term, ben, vid = shop
    r = await world.client.post(
        "/v1/redemptions", headers=term.headers, json=body(ben, gross_fen=200_000)
    )
    assert r.json()["subsidy_fen"] == 50_000 and r.json()["balance_fen"] == 0
    assert await world.conn.fetchval("SELECT status FROM voucher WHERE id = $1", vid) == "exhausted"
    await refusal(world, term, body(ben), 422, "VOUCHER_EXHAUSTED")


async def test_meal_assistance_two_meals_a_day_and_bill_must_exceed_the_subsidy(world):
    porridge = {"code": "MEAL_PORRIDGE", "name": "粥", "category": "meal", "price_fen": 500}
    lunch = {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1500}
    meal = world.add_provider(kind="meal_point", services=[porridge, lunch])
    term = world.add_terminal(meal)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(
        ben,
        program_code="meal_assistance",
        face_fen=15_500,
        per_use_fen=500,
        ratio_bp=None,
        day_limit_count=2,
        kinds=("meal_point",),
        categories=("meal",),
    )
    await refusal(
        world,
        term,
        body(ben, service_code="MEAL_PORRIDGE", gross_fen=500),
        422,
        "BILL_TOO_SMALL",
        "gross_fen",
    )
    for _ in range(2):
        r = await world.client.post(
            "/v1/redemptions",
            headers=term.headers,
            json=body(ben, service_code="MEAL_LUNCH", gross_fen=1500),
        )
        assert r.status_code == 201 and r.json()["subsidy_fen"] == 500
    await refusal(
        world,
        term,
        body(ben, service_code="MEAL_LUNCH", gross_fen=1500),
        422,
        "DAILY_LIMIT_REACHED",
    )
    assert await world.balance(vid) == 14_500


async def test_lowest_priority_voucher_pays_first(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    later = await world.add_voucher(ben, priority=200, program_code="b")
    first = await world.add_voucher(ben, priority=10, program_code="a")
    r = await world.client.post("/v1/redemptions", headers=term.headers, json=body(ben))
    assert r.json()["voucher_id"] == str(first)
    assert await world.balance(later) == 50_000


BAD_INPUT = [
    ({"gross_fen": 0}, "gross_fen"),
    ({"gross_fen": -5}, "gross_fen"),
    ({"gross_fen": 12.5}, "gross_fen"),
    ({"gross_fen": "8000"}, "gross_fen"),
    ({"gross_fen": True}, "gross_fen"),
    ({"gross_fen": 10**12}, "gross_fen"),
    ({"gross_fen": None}, "gross_fen"),
    ({"service_code": ""}, "service_code"),
    ({"service_code": "空格 bad"}, "service_code"),
    ({"idempotency_key": "short"}, "idempotency_key"),
    ({"idempotency_key": "x" * 200}, "idempotency_key"),
    ({"token": ""}, "token"),
    ({"token": "A" * 5000}, "token"),
    ({"pin": "12ab56"}, "pin"),
    ({"extra": 1}, "extra"),
]


async def test_bad_input_is_422_with_the_field_and_changes_nothing(shop):
    world, term, ben, vid = shop
    for change, field in BAD_INPUT:
        b = body(ben)
        b.update(change)
        err = await refusal(world, term, b, 422, "VALIDATION_ERROR")
        assert err["field"] == field, change
    # (gross_fen may be left out: the service prices the bill; test_priced_bills.py)
    for missing in ("token", "service_code", "idempotency_key"):
        b = body(ben)
        del b[missing]
        err = await refusal(world, term, b, 422, "VALIDATION_ERROR")
        assert err["field"] == missing
    assert await world.balance(vid) == 50_000 and await world.counts() == (0, 0, 0)


async def test_malformed_json_changes_nothing(shop):
    world, term, _ben, vid = shop
    before = await world.counts()
    r = await world.client.post(
        "/v1/redemptions",
        headers={**term.headers, "content-type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 422
    assert await world.counts() == before and await world.balance(vid) == 50_000


async def test_only_a_live_terminal_may_redeem(shop, tokens):
    world, term, ben, vid = shop
    for headers in (
        tokens.headers(Role.provider_admin, provider_id=term.provider_id),
        tokens.headers(Role.civil_affairs, region="450000"),
        tokens.headers(Role.beneficiary, sub=str(ben)),
    ):
        r = await world.client.post("/v1/redemptions", headers=headers, json=body(ben))
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await world.client.post("/v1/redemptions", json=body(ben))
    assert r.status_code == 401
    r = await world.client.post(
        "/v1/redemptions", headers={"Authorization": term.secret[:-3] + "xyz"}, json=body(ben)
    )
    assert r.status_code == 401
    r = await world.client.post(
        "/v1/redemptions",
        headers={"Authorization": f"Bearer {term.secret[:-3]}xyz"},
        json=body(ben),
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_TERMINAL"
    assert await world.counts() == (0, 0, 0) and await world.balance(vid) == 50_000
