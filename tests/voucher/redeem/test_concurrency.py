"""Real requests racing on separate connections (the app's raw pool has 20)."""

from __future__ import annotations

import asyncio

from tests.voucher.redeem.conftest import key, qr


async def test_fifty_terminals_racing_one_token_exactly_one_wins(world):
    pids = [world.add_provider() for _ in range(5)]
    terms = [world.add_terminal(pids[i % 5]) for i in range(50)]
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000)
    token = qr(ben)

    async def one(term):
        return await world.client.post("/v1/redemptions", headers=term.headers, json={
            "token": token, "service_code": "CARE_BATH", "gross_fen": 1000,
            "idempotency_key": key()})

    answers = await asyncio.gather(*(one(t) for t in terms))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 1, statuses
    losers = [r.json()["error"]["code"] for r in answers if r.status_code != 201]
    assert set(losers) == {"TOKEN_USED"} and len(losers) == 49
    assert await world.balance(vid) == 49_500
    assert await world.counts() == (1, 1, 1)


async def test_fifty_redemptions_draining_one_voucher_never_overdraw(world):
    pid = world.add_provider()
    terms = [world.add_terminal(pid) for _ in range(10)]
    ben = await world.add_beneficiary()
    face = 10_000
    vid = await world.add_voucher(ben, face_fen=face, ratio_bp=10_000)

    async def one(i):
        return await world.client.post("/v1/redemptions", headers=terms[i % 10].headers, json={
            "token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 333 + i,
            "idempotency_key": key()})

    answers = await asyncio.gather(*(one(i) for i in range(50)))
    ok = [r.json() for r in answers if r.status_code == 201]
    refused = [r.json()["error"]["code"] for r in answers if r.status_code != 201]
    assert set(refused) <= {"VOUCHER_EXHAUSTED"}, refused
    assert ok and refused  # 50 bills of ~350 fen against 100 yuan: some are refused
    balance = await world.balance(vid)
    assert balance >= 0
    assert sum(r["subsidy_fen"] for r in ok) == face - balance
    assert balance == 0  # the last one paid what was left
    # Each answer's balance is distinct: every redemption saw the one before it.
    assert len({r["balance_fen"] for r in ok}) == len(ok)
    db_sum = await world.conn.fetchval(
        "SELECT sum(subsidy_fen) FROM redemption WHERE voucher_id = $1", vid)
    assert db_sum == face - balance
    assert await world.conn.fetchval(
        "SELECT count(*) FROM outbox WHERE type = 'redemption.created'") == len(ok)


async def test_the_same_request_retried_concurrently_moves_money_once(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    b = {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 2000,
         "idempotency_key": key()}
    answers = await asyncio.gather(*(
        world.client.post("/v1/redemptions", headers=term.headers, json=b) for _ in range(20)))
    assert sorted(r.status_code for r in answers) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await world.balance(vid) == 49_000
    assert await world.counts() == (1, 1, 1)
