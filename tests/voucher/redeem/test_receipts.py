"""Receipts the family can confirm or dispute (issue 14, part 2): who sees a receipt, what it
says, confirm / dispute once within the window, the dispute's case with its deadline, the
decision, one appeal decided once more, and the history that records who did what when."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from services.common.auth import Role
from services.common.ids import new_uuid
from tests.voucher.redeem.conftest import REGION, key, qr


@pytest.fixture
async def world(shared_world):
    return shared_world


PRICE_LIST = [
    {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "unit": "次", "price_fen": 1500},
    {
        "code": "CLEAN_HOME",
        "name": "上门助洁",
        "category": "cleaning",
        "unit": "小时",
        "price_fen": 3000,
        "max_per_visit": 3,
    },
]


class Shop:
    def __init__(self, world, term, ben, vid, tokens):
        self.world, self.term, self.ben, self.vid, self.tokens = world, term, ben, vid, tokens
        self.me = tokens.headers(Role.beneficiary, sub=str(ben))
        self.proxy_sub = f"proxy:{uuid.uuid4().hex[:8]}"
        self.proxy = tokens.headers(Role.proxy, sub=self.proxy_sub, beneficiary_ids=[str(ben)])
        self.officer = tokens.headers(Role.civil_affairs, sub="officer:wang", region="450100")
        self.admin = tokens.headers(Role.provider_admin, provider_id=term.provider_id)

    async def redeem(self, items=None) -> str:
        items = items or [{"service_code": "CLEAN_HOME", "quantity": 2}]
        r = await self.world.client.post(
            "/v1/redemptions",
            headers=self.term.headers,
            json={"token": qr(self.ben), "items": items, "idempotency_key": key()},
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def old_redemption(self, days: int) -> str:
        """A redemption made `days` ago (inserted as the redemption statement would have)."""
        rid = new_uuid()
        at = datetime.now(UTC) - timedelta(days=days)
        await self.world.conn.execute(
            """INSERT INTO redemption (id, voucher_id, beneficiary_id, provider_id, terminal_id,
                   service_code, category, gross_fen, subsidy_fen, copay_fen, balance_after_fen,
                   idempotency_key, request_hash, day_on, created_at)
               VALUES ($1, $2, $3, $4, $5, 'CLEAN_HOME', 'cleaning', 3000, 1500, 1500, 40000,
                   $6, '\\x00', $7, $8)""",
            rid,
            self.vid,
            self.ben,
            self.term.provider_id,
            self.term.id,
            key(),
            at.date(),
            at,
        )
        return str(rid)

    async def post(self, path, headers, json=None):
        return await self.world.client.post(path, headers=headers, json=json or {})

    async def get(self, path, headers):
        return await self.world.client.get(path, headers=headers)


@pytest.fixture
async def shop(world, tokens):
    pid = world.add_provider(kind="home_care", services=PRICE_LIST)
    world.providers[pid]["name"] = "幸福家政"
    world._publish(providers=[world.providers[pid]])
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, categories=("cleaning", "meal"))
    s = Shop(world, term, ben, vid, tokens)
    await world.add_proxy(ben, s.proxy_sub)
    return s


async def test_the_receipt_says_what_was_sold_and_paid(shop):
    rid = await shop.redeem(
        [{"service_code": "CLEAN_HOME", "quantity": 2}, {"service_code": "MEAL_LUNCH"}]
    )
    r = await shop.get(f"/v1/redemptions/{rid}/receipt", shop.me)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == {"id": shop.term.provider_id, "name": "幸福家政"}
    assert out["terminal"]["id"] == shop.term.id
    assert [
        (
            i["service_code"],
            i["name"],
            i["unit"],
            i["quantity"],
            i["unit_price_fen"],
            i["amount_fen"],
        )
        for i in out["items"]
    ] == [
        ("CLEAN_HOME", "上门助洁", "小时", 2, 3000, 6000),
        ("MEAL_LUNCH", "午餐", "次", 1, 1500, 1500),
    ]
    assert (out["gross_fen"], out["subsidy_fen"], out["copay_fen"]) == (7500, 3750, 3750)
    assert out["balance_after_fen"] == 50_000 - 3750
    assert out["created_at"].endswith("+08:00")
    assert out["program_code"] == "disability_subsidy"
    assert out["review"]["state"] == "open"
    assert out["dispute"] is None and out["history"] == [] and out["visit"] is None


async def test_a_one_line_bill_is_its_redemption_and_every_reader_still_shows_its_line(shop):
    """A bill of one line at quantity one writes no redemption_item row (the redemption row
    holds its service and price); the receipt, the person's history and the provider's day
    list still show that line, and a bill of one line at quantity two keeps its line."""
    one = await shop.redeem([{"service_code": "MEAL_LUNCH"}])
    two = await shop.redeem([{"service_code": "CLEAN_HOME", "quantity": 2}])
    written = {
        str(r["redemption_id"]): (r["service_code"], r["quantity"], r["unit_price_fen"])
        for r in await shop.world.conn.fetch(
            "SELECT redemption_id, service_code, quantity, unit_price_fen FROM redemption_item"
            " WHERE redemption_id = ANY($1::uuid[])",
            [one, two],
        )
    }
    assert written == {two: ("CLEAN_HOME", 2, 3000)}
    receipt = (await shop.get(f"/v1/redemptions/{one}/receipt", shop.me)).json()
    assert [
        (i["service_code"], i["name"], i["quantity"], i["unit_price_fen"], i["amount_fen"])
        for i in receipt["items"]
    ] == [("MEAL_LUNCH", "午餐", 1, 1500, 1500)]
    history = (await shop.get(f"/v1/beneficiaries/{shop.ben}/redemptions", shop.me)).json()
    items = {h["id"]: h["items"] for h in history}
    assert items[one] == [{"service_code": "MEAL_LUNCH", "quantity": 1}]
    assert items[two] == [{"service_code": "CLEAN_HOME", "quantity": 2}]
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    day = await shop.world.client.get(
        "/v1/redemptions",
        headers=shop.admin,
        params={"provider_id": shop.term.provider_id, "date": today},
    )
    listed = {r["id"]: r["items"] for r in day.json()}
    assert listed[one] == [{"service_code": "MEAL_LUNCH", "quantity": 1}]


async def test_who_sees_a_receipt(shop, world, tokens):
    rid = await shop.redeem()
    url = f"/v1/redemptions/{rid}/receipt"
    for headers in (shop.me, shop.proxy, shop.officer, shop.admin, shop.term.headers):
        assert (await shop.get(url, headers)).status_code == 200
    other_term = world.add_terminal(world.add_provider())
    unknown = f"/v1/redemptions/{uuid.uuid4()}/receipt"
    strangers = [
        tokens.headers(Role.beneficiary, sub=str(uuid.uuid4())),
        tokens.headers(Role.proxy, sub="proxy:x", beneficiary_ids=[str(uuid.uuid4())]),
        tokens.headers(Role.civil_affairs, region="450200"),
        tokens.headers(Role.provider_staff, provider_id=other_term.provider_id),
        other_term.headers,
    ]
    for headers in strangers:
        r = await shop.get(url, headers)
        assert r.status_code == 404, r.text
        assert r.json() == (await shop.get(unknown, headers)).json()
        assert r.json()["error"]["code"] == "REDEMPTION_NOT_FOUND"
    for role in (Role.finance, Role.auditor):
        r = await shop.get(url, tokens.headers(role, region="450000"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"


async def test_confirm_once_by_the_person_never_by_the_provider(shop, tokens):
    rid = await shop.redeem()
    for headers in (shop.term.headers, shop.admin, shop.officer):
        r = await shop.post(f"/v1/redemptions/{rid}/confirm", headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
        r = await shop.post(f"/v1/redemptions/{rid}/dispute", headers, {"reason": "x"})
        assert r.status_code == 403
    stranger = tokens.headers(Role.beneficiary, sub=str(uuid.uuid4()))
    r = await shop.post(f"/v1/redemptions/{rid}/confirm", stranger)
    assert r.status_code == 404 and r.json()["error"]["code"] == "REDEMPTION_NOT_FOUND"

    r = await shop.post(f"/v1/redemptions/{rid}/confirm", shop.proxy)
    assert r.status_code == 200, r.text
    assert r.json()["review"]["state"] == "confirmed"
    for path, body in (("confirm", {}), ("dispute", {"reason": "没有上门"})):
        r = await shop.post(f"/v1/redemptions/{rid}/{path}", shop.me, body)
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "REDEMPTION_ALREADY_REVIEWED"
        assert r.json()["error"]["details"]["state"] == "confirmed"
    hist = (await shop.get(f"/v1/redemptions/{rid}/receipt", shop.officer)).json()["history"]
    assert [(h["kind"], h["actor_role"], h["actor"]) for h in hist] == [
        ("confirmed", "proxy", shop.proxy_sub)
    ]
    # The family sees what happened, not the officers' internal ids.
    mine = (await shop.get(f"/v1/redemptions/{rid}/receipt", shop.me)).json()["history"]
    assert mine[0]["actor"] is None


async def test_the_window_closes_after_seven_days_and_voided_ones_are_refused(shop):
    old = await shop.old_redemption(days=8)
    r = await shop.post(f"/v1/redemptions/{old}/confirm", shop.me)
    assert r.status_code == 409 and r.json()["error"]["code"] == "REVIEW_WINDOW_CLOSED"
    r = await shop.post(f"/v1/redemptions/{old}/dispute", shop.me, {"reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "REVIEW_WINDOW_CLOSED"
    assert (await shop.get(f"/v1/redemptions/{old}/receipt", shop.me)).json()["review"][
        "state"
    ] == "closed"
    recent = await shop.old_redemption(days=6)
    assert (await shop.post(f"/v1/redemptions/{recent}/confirm", shop.me)).status_code == 200

    rid = await shop.redeem()
    v = await shop.post(f"/v1/redemptions/{rid}/void", shop.term.headers, {"reason": "录错"})
    assert v.status_code == 200
    r = await shop.post(f"/v1/redemptions/{rid}/confirm", shop.me)
    assert r.status_code == 409 and r.json()["error"]["code"] == "REDEMPTION_VOIDED"


async def test_the_window_is_configurable(shop, world):
    old = await shop.old_redemption(days=8)
    world.app.state.settings.review_window_days = 10
    try:
        r = await shop.post(f"/v1/redemptions/{old}/confirm", shop.me)
        assert r.status_code == 200, r.text
    finally:
        world.app.state.settings.review_window_days = 7


async def test_confirm_and_dispute_racing_only_one_counts(shop, world):
    rid = await shop.redeem()
    results = await asyncio.gather(
        *[
            shop.post(f"/v1/redemptions/{rid}/confirm", shop.me),
            shop.post(f"/v1/redemptions/{rid}/dispute", shop.proxy, {"reason": "不对"}),
            shop.post(f"/v1/redemptions/{rid}/confirm", shop.proxy),
            shop.post(f"/v1/redemptions/{rid}/dispute", shop.me, {"reason": "不对"}),
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes[0] in (200, 201) and codes[1:] == [409, 409, 409], [r.text for r in results]
    n = await world.conn.fetchval(
        "SELECT count(*) FROM redemption_history WHERE redemption_id = $1::uuid", rid
    )
    assert n == 1


async def test_a_dispute_is_a_case_the_region_answers_once_and_appealed_once(shop, world, tokens):
    rid = await shop.redeem()
    r = await shop.post(f"/v1/redemptions/{rid}/dispute", shop.me, {"reason": "只做了一小时"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "open" and case["deadline"] == "on_track"
    assert case["provider_name"] == "幸福家政"
    did = case["id"]

    # The queue of the person's region (and of a region above it); not another region's.
    queue = (await shop.get("/v1/disputes?status=pending", shop.officer)).json()
    assert did in [d["id"] for d in queue]
    other = tokens.headers(Role.civil_affairs, region="450200")
    assert did not in [d["id"] for d in (await shop.get("/v1/disputes", other)).json()]
    r = await shop.get("/v1/disputes?region_code=450100", other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await shop.get(f"/v1/disputes/{did}", other)
    assert r.status_code == 404 and r.json()["error"]["code"] == "DISPUTE_NOT_FOUND"
    r = await shop.post(
        f"/v1/disputes/{did}/decision", other, {"decision": "upheld", "reason": "x"}
    )
    assert r.status_code == 404
    r = await shop.get("/v1/disputes", shop.admin)
    assert r.status_code == 403

    detail = (await shop.get(f"/v1/disputes/{did}", shop.officer)).json()
    assert detail["receipt"]["id"] == rid and detail["receipt"]["items"][0]["quantity"] == 2

    # Appealing before a decision, deciding from the wrong role.
    r = await shop.post(f"/v1/disputes/{did}/appeal", shop.me, {"reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "DISPUTE_NOT_DECIDED"
    r = await shop.post(
        f"/v1/disputes/{did}/decision", shop.me, {"decision": "upheld", "reason": "x"}
    )
    assert r.status_code == 403
    r = await shop.post(
        f"/v1/disputes/{did}/decision", shop.officer, {"decision": "maybe", "reason": "x"}
    )
    assert r.status_code == 422

    r = await shop.post(
        f"/v1/disputes/{did}/decision",
        shop.officer,
        {"decision": "rejected", "reason": "护理记录显示服务两小时"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["deadline"], r.json()["can_appeal"]) == (
        "decided",
        "answered",
        True,
    )
    r = await shop.post(
        f"/v1/disputes/{did}/decision", shop.officer, {"decision": "upheld", "reason": "x"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "DISPUTE_ALREADY_DECIDED"

    r = await shop.post(f"/v1/disputes/{did}/appeal", shop.proxy, {"reason": "护理员只待了一小时"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "appealed" and r.json()["deadline"] == "on_track"
    r = await shop.post(f"/v1/disputes/{did}/appeal", shop.me, {"reason": "再次申诉"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "APPEAL_ALREADY_MADE"

    r = await shop.post(
        f"/v1/disputes/{did}/decision",
        shop.officer,
        {"decision": "partly_upheld", "reason": "核减一小时"},
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["appeal_decision"] == "partly_upheld"
    r = await shop.post(
        f"/v1/disputes/{did}/decision", shop.officer, {"decision": "upheld", "reason": "x"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "DISPUTE_ALREADY_DECIDED"
    r = await shop.post(f"/v1/disputes/{did}/appeal", shop.me, {"reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "APPEAL_ALREADY_MADE"

    receipt = (await shop.get(f"/v1/redemptions/{rid}/receipt", shop.officer)).json()
    assert [(h["kind"], h["actor_role"], h["decision"]) for h in receipt["history"]] == [
        ("disputed", "beneficiary", None),
        ("decided", "civil_affairs", "rejected"),
        ("appealed", "proxy", None),
        ("appeal_decided", "civil_affairs", "partly_upheld"),
    ]
    assert receipt["history"][1]["actor"] == "officer:wang"
    assert receipt["review"]["state"] == "disputed"
    assert receipt["dispute"]["status"] == "closed"


async def test_deadlines_on_track_at_risk_overdue_and_appeal_window(shop, world):
    rid = await shop.redeem()
    did = (await shop.post(f"/v1/redemptions/{rid}/dispute", shop.me, {"reason": "x"})).json()["id"]

    async def deadline():
        return (await shop.get(f"/v1/disputes/{did}", shop.officer)).json()["deadline"]

    now = datetime.now(UTC)
    await world.conn.execute(
        "UPDATE dispute SET due_at = $2 WHERE id = $1::uuid", did, now + timedelta(days=2)
    )
    assert await deadline() == "at_risk"
    await world.conn.execute(
        "UPDATE dispute SET due_at = $2 WHERE id = $1::uuid", did, now - timedelta(hours=1)
    )
    assert await deadline() == "overdue"
    overdue = (await shop.get("/v1/disputes", shop.officer)).json()
    assert [d["deadline"] for d in overdue if d["id"] == did] == ["overdue"]

    r = await shop.post(
        f"/v1/disputes/{did}/decision", shop.officer, {"decision": "upheld", "reason": "退回"}
    )
    assert r.status_code == 200
    await world.conn.execute(
        "UPDATE dispute SET decided_at = $2 WHERE id = $1::uuid", did, now - timedelta(days=16)
    )
    r = await shop.post(f"/v1/disputes/{did}/appeal", shop.me, {"reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "APPEAL_WINDOW_CLOSED"


async def test_bad_input_is_refused_and_changes_nothing(shop, world):
    rid = await shop.redeem()
    for body in (
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": "x", "y": 1},
    ):
        r = await shop.post(f"/v1/redemptions/{rid}/dispute", shop.me, body)
        assert r.status_code == 422, body
    r = await shop.post("/v1/redemptions/not-a-uuid/confirm", shop.me)
    assert r.status_code == 422
    # Text PostgreSQL cannot store (the NUL character): a 422 that says so, not a vague
    # refusal by the database; the dispute is not opened, the redemption not voided.
    for path, headers in (
        (f"/v1/redemptions/{rid}/dispute", shop.me),
        (f"/v1/redemptions/{rid}/void", shop.term.headers),
    ):
        r = await shop.post(path, headers, {"reason": "没有\u0000来"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "body"), error
        assert "NUL" in error["message"]
    assert (
        await world.conn.fetchval("SELECT status FROM redemption WHERE id = $1::uuid", rid)
        == "completed"
    )
    officer = shop.tokens.headers(Role.civil_affairs, sub="officer:wang", region="450100")
    r = await world.client.get("/v1/beneficiaries", headers=officer, params={"q": "张\x00三"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "q", r.text
    n = await world.conn.fetchval(
        "SELECT count(*) FROM redemption_history WHERE redemption_id = $1::uuid", rid
    )
    assert n == 0


async def test_history_rows_are_append_only(shop, world):
    rid = await shop.redeem()
    assert (await shop.post(f"/v1/redemptions/{rid}/confirm", shop.me)).status_code == 200
    app_url = world.app.state.settings.database_url
    conn = await asyncpg.connect(app_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE redemption_history SET kind = 'disputed'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM redemption_history")
    finally:
        await conn.close()


_ = (REGION, httpx)


async def test_the_history_says_which_redemptions_await_a_review(shop):
    confirmed = await shop.redeem()
    disputed = await shop.redeem()
    fresh = await shop.redeem()
    old = await shop.old_redemption(days=9)
    assert (await shop.post(f"/v1/redemptions/{confirmed}/confirm", shop.me)).status_code == 200
    r = await shop.post(f"/v1/redemptions/{disputed}/dispute", shop.me, {"reason": "x"})
    assert r.status_code == 201
    rows = (await shop.get(f"/v1/beneficiaries/{shop.ben}/redemptions", shop.proxy)).json()
    states = {row["id"]: row["review_state"] for row in rows}
    assert states[confirmed] == "confirmed" and states[disputed] == "disputed"
    assert states[fresh] == "open" and states[old] == "closed"


async def test_a_bill_from_before_lines_shows_one_line_and_the_person_reads_the_case(shop, tokens):
    old = await shop.old_redemption(days=1)
    out = (await shop.get(f"/v1/redemptions/{old}/receipt", shop.officer)).json()
    assert [(i["service_code"], i["quantity"], i["amount_fen"]) for i in out["items"]] == [
        ("CLEAN_HOME", 1, 3000)
    ]
    did = (await shop.post(f"/v1/redemptions/{old}/dispute", shop.me, {"reason": "x"})).json()["id"]
    for headers in (shop.me, shop.proxy):
        r = await shop.get(f"/v1/disputes/{did}", headers)
        assert r.status_code == 200 and r.json()["receipt"]["id"] == old
    for headers in (
        tokens.headers(Role.beneficiary, sub=str(uuid.uuid4())),
        shop.admin,
        shop.term.headers,
    ):
        r = await shop.get(f"/v1/disputes/{did}", headers)
        assert r.status_code in (403, 404)
        if r.status_code == 404:
            assert r.json()["error"]["code"] == "DISPUTE_NOT_FOUND"
