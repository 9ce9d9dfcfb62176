"""Proof of home-care service (issue 14, part 3): check-in and check-out with the elder's live
code on the provider's terminal, the radius around an exact home, and a home-visit item that
can be billed only with a completed visit long enough for it, once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.auth import Role
from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    return shared_world


HOME = (22.8170, 108.3660)
NEAR = (22.8180, 108.3665)  # ~120 m away
FAR = (22.8300, 108.3660)  # ~1.4 km away

PRICE_LIST = [
    {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "unit": "次", "price_fen": 1500},
    {
        "code": "CARE_HOME",
        "name": "上门护理",
        "category": "home_care_hours",
        "unit": "小时",
        "price_fen": 5000,
        "max_per_visit": 4,
        "home_visit": True,
        "min_minutes": 60,
    },
]


class Home:
    def __init__(self, world, term, ben, vid, tokens):
        self.world, self.term, self.ben, self.vid, self.tokens = world, term, ben, vid, tokens

    async def check_in(self, at=NEAR, token=None, **extra):
        body = {"token": token or qr(self.ben), "lat": at[0], "lon": at[1], **extra}
        return await self.world.client.post("/v1/visits", headers=self.term.headers, json=body)

    async def check_out(self, visit_id, at=NEAR, token=None, headers=None, **extra):
        body = {"token": token or qr(self.ben), "lat": at[0], "lon": at[1], **extra}
        return await self.world.client.post(
            f"/v1/visits/{visit_id}/check-out", headers=headers or self.term.headers, json=body
        )

    async def visit(self, minutes: int) -> str:
        """A completed visit that lasted `minutes`."""
        r = await self.check_in(care_worker="张护理员")
        assert r.status_code == 201, r.text
        vid = r.json()["id"]
        await self.world.conn.execute(
            "UPDATE visit SET checked_in_at = $2 WHERE id = $1::uuid",
            vid,
            datetime.now(UTC) - timedelta(minutes=minutes, seconds=5),
        )
        r = await self.check_out(vid)
        assert r.status_code == 200, r.text
        return vid

    async def redeem(self, visit_id=None, quantity=1, path="/v1/redemptions"):
        body = {
            "token": qr(self.ben),
            "items": [{"service_code": "CARE_HOME", "quantity": quantity}],
        }
        if path == "/v1/redemptions":
            body["idempotency_key"] = key()
        if visit_id is not None:
            body["visit_id"] = visit_id
        return await self.world.client.post(path, headers=self.term.headers, json=body)


@pytest.fixture
async def home(world, tokens):
    pid = world.add_provider(kind="home_care", services=PRICE_LIST)
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    await world.conn.execute("UPDATE beneficiary SET lat = $2, lon = $3 WHERE id = $1", ben, *HOME)
    vid = await world.add_voucher(ben, categories=("home_care_hours", "meal"))
    return Home(world, term, ben, vid, tokens)


async def test_check_in_and_out_record_the_visit(home, world):
    r = await home.check_in(care_worker="张护理员")
    assert r.status_code == 201, r.text
    v = r.json()
    assert (v["status"], v["location_check"], v["care_worker"]) == (
        "open",
        "within_radius",
        "张护理员",
    )
    assert 50 < v["check_in_distance_m"] < 200
    assert v["checked_in_at"].endswith("+08:00")
    await world.conn.execute(
        "UPDATE visit SET checked_in_at = now() - interval '75 minutes' WHERE id = $1::uuid",
        v["id"],
    )
    r = await home.check_out(v["id"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed" and done["minutes"] == 75
    r = await home.check_out(v["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "VISIT_ALREADY_CHECKED_OUT"
    got = await world.client.get(f"/v1/visits/{v['id']}", headers=home.term.headers)
    assert got.status_code == 200 and got.json()["minutes"] == 75


async def test_the_radius_around_an_exact_home(home, world):
    token = qr(home.ben)
    before = await world.conn.fetchval("SELECT count(*) FROM visit")
    r = await home.check_in(at=FAR, token=token)
    assert r.status_code == 422 and r.json()["error"]["code"] == "VISIT_OUT_OF_RADIUS"
    assert r.json()["error"]["details"]["radius_m"] == 300
    assert r.json()["error"]["details"]["distance_m"] > 1000
    assert await world.conn.fetchval("SELECT count(*) FROM visit") == before
    # Nothing was recorded: the same code still checks in at the home.
    r = await home.check_in(token=token)
    assert r.status_code == 201, r.text
    # ... and cannot check in twice.
    r = await home.check_in(token=token)
    assert r.status_code == 409 and r.json()["error"]["code"] == "TOKEN_USED"
    # The check-out position is held to the same radius.
    r = await home.check_out(await _open_visit(world, home), at=FAR)
    assert r.status_code == 422 and r.json()["error"]["code"] == "VISIT_OUT_OF_RADIUS"
    # The radius is configurable.
    world.app.state.settings.visit_radius_m = 5000
    try:
        assert (await home.check_in(at=FAR)).status_code == 201
    finally:
        world.app.state.settings.visit_radius_m = 300


async def _open_visit(world, home) -> str:
    return str(
        await world.conn.fetchval(
            "SELECT id FROM visit WHERE beneficiary_id = $1 AND status = 'open'"
            " ORDER BY checked_in_at DESC LIMIT 1",
            home.ben,
        )
    )


async def test_approximate_or_missing_locations_skip_the_check_and_say_so(home, world):
    await world.conn.execute(
        "UPDATE beneficiary SET location_approximate = true WHERE id = $1", home.ben
    )
    r = await home.check_in(at=FAR)
    assert r.status_code == 201 and r.json()["location_check"] == "approximate"
    await world.conn.execute(
        "UPDATE beneficiary SET lat = NULL, lon = NULL WHERE id = $1", home.ben
    )
    r = await home.check_in(at=FAR)
    assert r.status_code == 201 and r.json()["location_check"] == "no_location"
    assert r.json()["check_in_distance_m"] is None


async def test_only_the_elders_live_code_checks_in(home, world, tokens):
    for bad in ("123456", "00001234", "A" * 151):
        r = await home.check_in(token=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "TOKEN_INVALID", bad
    old = qr(home.ben, ttl_s=60, now=datetime.now(UTC) - timedelta(minutes=5))
    r = await home.check_in(token=old)
    assert r.status_code == 422 and r.json()["error"]["code"] == "TOKEN_EXPIRED"
    # The printed card, with the PIN the elder types.
    officer = tokens.headers(Role.civil_affairs, region="450100")
    card = await world.client.post(f"/v1/beneficiaries/{home.ben}/cards", headers=officer)
    assert card.status_code == 201, card.text
    card = card.json()
    r = await home.check_in(token=card["token"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "PIN_REQUIRED"
    r = await home.check_in(token=card["token"], pin=card["pin"])
    assert r.status_code == 201, r.text
    # Check-out with the card again (with its PIN) works too; another person's code not.
    vid = r.json()["id"]
    other = await world.add_beneficiary()
    r = await home.check_out(vid, token=qr(other))
    assert r.status_code == 422 and r.json()["error"]["code"] == "VISIT_CODE_MISMATCH"
    r = await home.check_out(vid, token=card["token"], pin=card["pin"])
    assert r.status_code == 200, r.text
    # A suspended person cannot be visited for billing.
    await world.conn.execute("UPDATE beneficiary SET status = 'suspended' WHERE id = $1", other)
    r = await home.check_in(token=qr(other))
    assert r.status_code == 422 and r.json()["error"]["code"] == "BENEFICIARY_NOT_ACTIVE"


async def test_wrong_role_and_other_providers_are_refused(home, world, tokens):
    r = await home.check_in()
    vid = r.json()["id"]
    admin = tokens.headers(Role.provider_admin, provider_id=home.term.provider_id)
    me = tokens.headers(Role.beneficiary, sub=str(home.ben))
    for headers in (admin, me):
        r = await world.client.post(
            "/v1/visits", headers=headers, json={"token": qr(home.ben), "lat": 1, "lon": 1}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    other_term = world.add_terminal(world.add_provider(kind="home_care", services=PRICE_LIST))
    r = await home.check_out(vid, headers=other_term.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "VISIT_NOT_FOUND"
    r = await world.client.get(f"/v1/visits/{vid}", headers=other_term.headers)
    assert r.status_code == 404
    r = await world.client.get(f"/v1/visits/{uuid.uuid4()}", headers=home.term.headers)
    assert r.status_code == 404
    r = await home.check_in(at=(91, 0))
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_a_home_visit_item_needs_a_completed_visit_long_enough(home, world):
    before, balance = await world.counts(), await world.balance(home.vid)

    async def refused(r, reason):
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert (err["code"], err["details"]["reason"]) == ("VISIT_REQUIRED", reason)
        # No redemption, no event, the balance as it was (check-ins spend their own codes).
        assert (await world.counts())[:2] == before[:2]
        assert await world.balance(home.vid) == balance

    await refused(await home.redeem(), "missing")
    await refused(await home.redeem(path="/v1/redemptions/preview"), "missing")
    await refused(await home.redeem(str(uuid.uuid4())), "unknown")
    opened = (await home.check_in()).json()["id"]
    await refused(await home.redeem(opened), "not_completed")
    short = await home.visit(minutes=45)
    await refused(await home.redeem(short), "too_short")
    hour = await home.visit(minutes=70)
    # Two hours of care need 120 minutes; one hour needs 60.
    await refused(await home.redeem(hour, quantity=2), "too_short")
    before = await world.counts()
    r = await home.redeem(hour)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (
        await world.conn.fetchval("SELECT visit_id::text FROM redemption WHERE id = $1::uuid", rid)
        == hour
    )
    before, balance = await world.counts(), await world.balance(home.vid)
    await refused(await home.redeem(hour), "used")
    await refused(await home.redeem(hour, path="/v1/redemptions/preview"), "used")
    # Another provider cannot bill this visit.
    other_term = world.add_terminal(world.add_provider(kind="home_care", services=PRICE_LIST))
    r = await world.client.post(
        "/v1/redemptions",
        headers=other_term.headers,
        json={
            "token": qr(home.ben),
            "items": [{"service_code": "CARE_HOME"}],
            "visit_id": hour,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "unknown"
    # A bill without a home-visit item needs no visit.
    r = await world.client.post(
        "/v1/redemptions",
        headers=home.term.headers,
        json={"token": qr(home.ben), "service_code": "MEAL_LUNCH", "idempotency_key": key()},
    )
    assert r.status_code == 201, r.text

    # The family sees the visit with its times on the receipt.
    me = home.tokens.headers(Role.beneficiary, sub=str(home.ben))
    receipt = (await world.client.get(f"/v1/redemptions/{rid}/receipt", headers=me)).json()
    assert receipt["visit"]["id"] == hour and receipt["visit"]["minutes"] == 70
    assert receipt["visit"]["care_worker"] == "张护理员"
    assert receipt["visit"]["checked_in_at"].endswith("+08:00")

    # A voided redemption frees its visit for the corrected bill.
    v = await world.client.post(
        f"/v1/redemptions/{rid}/void", headers=home.term.headers, json={"reason": "录错"}
    )
    assert v.status_code == 200
    assert (await home.redeem(hour)).status_code == 201


async def test_a_retry_with_the_same_key_and_visit_answers_the_same(home, world):
    hour = await home.visit(minutes=61)
    body = {
        "token": qr(home.ben),
        "items": [{"service_code": "CARE_HOME"}],
        "visit_id": hour,
        "idempotency_key": key(),
    }
    first = await world.client.post("/v1/redemptions", headers=home.term.headers, json=body)
    again = await world.client.post("/v1/redemptions", headers=home.term.headers, json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = await home.visit(minutes=61)
    r = await world.client.post(
        "/v1/redemptions", headers=home.term.headers, json={**body, "visit_id": other}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_two_bills_racing_for_one_visit_only_one_is_paid(home, world):
    hour = await home.visit(minutes=65)
    balance = await world.balance(home.vid)
    results = await asyncio.gather(*[home.redeem(hour) for _ in range(4)])
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 422, 422, 422], [r.text for r in results]
    for r in results:
        if r.status_code == 422:
            assert r.json()["error"]["details"]["reason"] == "used"
    paid = next(r.json() for r in results if r.status_code == 201)
    assert await world.balance(home.vid) == balance - paid["subsidy_fen"]
    n = await world.conn.fetchval("SELECT count(*) FROM redemption WHERE visit_id = $1::uuid", hour)
    assert n == 1


async def test_the_provider_lists_its_open_and_unbilled_visits(home, world, tokens):
    opened = (await home.check_in()).json()["id"]
    done = await home.visit(minutes=61)
    billed = await home.visit(minutes=61)
    assert (await home.redeem(billed)).status_code == 201

    async def ids(headers, **params):
        r = await world.client.get("/v1/visits", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return [v["id"] for v in r.json()]

    assert opened in await ids(home.term.headers)
    completed = await ids(home.term.headers, status="completed")
    assert done in completed and billed in completed and opened not in completed
    unbilled = await ids(home.term.headers, status="completed", unbilled="true")
    assert done in unbilled and billed not in unbilled
    staff = tokens.headers(Role.provider_staff, provider_id=home.term.provider_id)
    assert opened in await ids(staff)
    other = tokens.headers(Role.provider_staff, provider_id=str(uuid.uuid4()))
    assert await ids(other) == []
    r = await world.client.get(
        "/v1/visits", headers=tokens.headers(Role.civil_affairs, region="45")
    )
    assert r.status_code == 403
