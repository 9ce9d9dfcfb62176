"""Programme kinds at the counter: a service package (家庭养老床位) pays one home visit a bill
until its visits are used up (VISITS_USED_UP), gives a voided visit back and lapses at the
period's end; a home adaptation voucher (适老化改造) pays only `home_adaptation` items."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.common.auth import Role
from tests.voucher.redeem.conftest import key, qr
from tests.voucher.redeem.test_visits import HOME, PRICE_LIST, Home


@pytest.fixture
async def world(shared_world):
    return shared_world


async def test_a_service_package_pays_its_visits_then_refuses_and_lapses(world, tokens):
    pid = world.add_provider(kind="home_care", services=PRICE_LIST)
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    await world.conn.execute("UPDATE beneficiary SET lat = $2, lon = $3 WHERE id = $1", ben, *HOME)
    package = await world.add_voucher(
        ben,
        face_fen=60_000,
        ratio_bp=8_000,
        per_txn_cap_fen=7_500,
        categories=("home_care_hours", "bathing"),
        program_code="family_care_bed",
        priority=50,
    )
    await world.conn.execute("UPDATE voucher SET visits_left = 2 WHERE id = $1", package)
    home = Home(world, term, ben, package, tokens)

    # A bill naming no visit is never paid from the package (the bathing item is in its
    # categories, but only home-visit bills use it).
    bath = world.add_provider(kind="home_care")
    r = await world.client.post(
        "/v1/redemptions",
        headers=world.add_terminal(bath).headers,
        json={
            "token": qr(ben),
            "items": [{"service_code": "CARE_BATH", "quantity": 1, "amount_fen": 8000}],
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "NO_USABLE_VOUCHER", r.text

    paid = []
    for _ in range(2):
        r = await home.redeem(await home.visit(65))
        assert r.status_code == 201, r.text
        assert r.json()["voucher_id"] == str(package)
        assert r.json()["subsidy_fen"] == 4_000  # 80 % of one hour at 50 yuan
        paid.append(r.json()["id"])
    row = await world.conn.fetchrow(
        "SELECT visits_left, status, balance_fen FROM voucher WHERE id = $1", package
    )
    assert tuple(row) == (0, "exhausted", 52_000)
    held = await world.client.get(
        f"/v1/beneficiaries/{ben}/vouchers",
        headers=tokens.headers(Role.civil_affairs, region="450100"),
    )
    assert held.status_code == 200, held.text
    assert [v["visits_left"] for v in held.json() if v["id"] == str(package)] == [0]

    third = await home.visit(65)
    before = await world.counts()
    r = await home.redeem(third)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "VISITS_USED_UP"
    assert await world.counts() == before  # refused: nothing recorded

    # A voided visit's bill gives the visit back.
    r = await world.client.post(
        f"/v1/redemptions/{paid[1]}/void", headers=term.headers, json={"reason": "录错"}
    )
    assert r.status_code == 200, r.text
    row = await world.conn.fetchrow(
        "SELECT visits_left, status FROM voucher WHERE id = $1", package
    )
    assert tuple(row) == (1, "active")

    # At the period's end the package lapses like a voucher: its balance goes back.
    await world.conn.execute(
        "UPDATE voucher SET valid_until = $2 WHERE id = $1",
        package,
        datetime.now(UTC) - timedelta(seconds=1),
    )
    r = await world.client.post(
        "/v1/vouchers/expire", headers=tokens.headers(Role.civil_affairs, region="450000")
    )
    assert r.status_code == 200, r.text
    row = await world.conn.fetchrow(
        "SELECT status, balance_fen, released_fen FROM voucher WHERE id = $1", package
    )
    assert (row["status"], row["released_fen"]) == ("expired", 56_000)


async def test_a_home_adaptation_voucher_pays_only_home_adaptation_items(world):
    pid = world.add_provider(
        kind="home_care",
        services=[
            {
                "code": "ADAPT_GRAB_BAR",
                "name": "适老化改造：安装扶手",
                "category": "home_adaptation",
                "price_fen": 30_000,
                "variable_price": True,
                "max_price_fen": 100_000,
            },
            {
                "code": "CARE_BATH",
                "name": "助浴",
                "category": "bathing",
                "price_fen": 8000,
                "variable_price": True,
                "max_price_fen": 100_000,
            },
        ],
    )
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    grant = await world.add_voucher(
        ben,
        face_fen=300_000,
        ratio_bp=9_000,
        categories=("home_adaptation",),
        program_code="home_adaptation",
        kinds=("home_care",),
    )

    async def bill(code: str, fen: int):
        return await world.client.post(
            "/v1/redemptions",
            headers=term.headers,
            json={
                "token": qr(ben),
                "items": [{"service_code": code, "quantity": 1, "amount_fen": fen}],
                "idempotency_key": key(),
            },
        )

    r = await bill("CARE_BATH", 8_000)
    assert r.status_code == 422 and r.json()["error"]["code"] == "NO_USABLE_VOUCHER", r.text
    r = await bill("ADAPT_GRAB_BAR", 40_000)
    assert r.status_code == 201, r.text
    assert (r.json()["voucher_id"], r.json()["subsidy_fen"]) == (str(grant), 36_000)


async def test_two_terminals_racing_for_the_last_visit_pay_it_once(world, tokens):
    """The package's visits are taken under the voucher's row lock: two bills racing for
    the last visit (real connections of the app's pool) pay it once; the other is refused
    VISITS_USED_UP and records nothing."""
    pid = world.add_provider(kind="home_care", services=PRICE_LIST)
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    await world.conn.execute("UPDATE beneficiary SET lat = $2, lon = $3 WHERE id = $1", ben, *HOME)
    package = await world.add_voucher(
        ben,
        face_fen=60_000,
        ratio_bp=8_000,
        per_txn_cap_fen=7_500,
        categories=("home_care_hours", "bathing"),
        program_code="family_care_bed",
        priority=50,
    )
    await world.conn.execute("UPDATE voucher SET visits_left = 1 WHERE id = $1", package)
    home = Home(world, term, ben, package, tokens)
    first, second = await home.visit(65), await home.visit(65)
    before = await world.counts()
    answers = await asyncio.gather(home.redeem(first), home.redeem(second))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 422], [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 422)
    assert refused.json()["error"]["code"] == "VISITS_USED_UP"
    row = await world.conn.fetchrow(
        "SELECT visits_left, balance_fen FROM voucher WHERE id = $1", package
    )
    assert tuple(row) == (0, 56_000)  # one visit paid: 40.00 yuan of subsidy
    paid = await world.conn.fetchval(
        "SELECT count(*) FROM redemption WHERE voucher_id = $1", package
    )
    assert paid == 1
    assert before != await world.counts()  # the one that won was recorded
