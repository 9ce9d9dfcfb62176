"""Real requests racing on separate connections (the app's raw pool has 20)."""

from __future__ import annotations

import asyncio

import pytest

from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    """This module's tests share one database (they count relative to their start)."""
    return shared_world


async def test_fifty_terminals_racing_one_token_exactly_one_wins(world):
    pids = [world.add_provider() for _ in range(5)]
    terms = [world.add_terminal(pids[i % 5]) for i in range(50)]
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000)
    token = qr(ben)

    async def one(term):
        return await world.client.post(
            "/v1/redemptions",
            headers=term.headers,
            json={
                "token": token,
                "service_code": "CARE_BATH",
                "gross_fen": 1000,
                "idempotency_key": key(),
            },
        )

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
        return await world.client.post(
            "/v1/redemptions",
            headers=terms[i % 10].headers,
            json={
                "token": qr(ben),
                "service_code": "CARE_BATH",
                "gross_fen": 333 + i,
                "idempotency_key": key(),
            },
        )

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
        "SELECT sum(subsidy_fen) FROM redemption WHERE voucher_id = $1", vid
    )
    assert db_sum == face - balance
    assert await world.conn.fetchval(
        "SELECT count(*) FROM outbox WHERE type = 'redemption.created' "
        "AND payload->>'voucher_id' = $1",
        str(vid),
    ) == len(ok)


async def test_the_same_request_retried_concurrently_moves_money_once(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    b = {"token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 2000, "idempotency_key": key()}
    answers = await asyncio.gather(
        *(world.client.post("/v1/redemptions", headers=term.headers, json=b) for _ in range(20))
    )
    assert sorted(r.status_code for r in answers) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await world.balance(vid) == 49_000
    assert await world.counts() == (1, 1, 1)


async def test_void_and_claim_racing_exactly_one_wins(world, tokens):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    ids = []
    for _ in range(10):
        r = await world.client.post(
            "/v1/redemptions",
            headers=term.headers,
            json={
                "token": qr(ben),
                "service_code": "CARE_BATH",
                "gross_fen": 1000,
                "idempotency_key": key(),
            },
        )
        ids.append(r.json()["id"])
    svc = tokens.headers("service")

    async def claim(rid):
        return await world.client.post(
            "/v1/internal/redemptions/claim",
            headers=svc,
            json={"claim_id": f"c-{rid}", "redemption_ids": [rid]},
        )

    async def void(rid):
        return await world.client.post(
            f"/v1/redemptions/{rid}/void", headers=term.headers, json={"reason": "race"}
        )

    # Voids, claims and new redemptions on the same voucher, all at once.
    answers = await asyncio.gather(
        *(f(rid) for rid in ids for f in (claim, void)),
        *(
            world.client.post(
                "/v1/redemptions",
                headers=term.headers,
                json={
                    "token": qr(ben),
                    "service_code": "CARE_BATH",
                    "gross_fen": 1000,
                    "idempotency_key": key(),
                },
            )
            for _ in range(10)
        ),
    )
    for i in range(len(ids)):
        c, v = answers[2 * i], answers[2 * i + 1]
        assert (c.status_code == 200) != (v.status_code == 200), (c.text, v.text)
        if c.status_code != 200:
            assert c.json()["error"]["code"] == "REDEMPTION_VOIDED"
        else:
            assert v.json()["error"]["code"] == "REDEMPTION_CLAIMED"
    assert all(r.status_code == 201 for r in answers[2 * len(ids) :])
    row = await world.conn.fetchrow(
        "SELECT sum(subsidy_fen) FILTER (WHERE status = 'completed') AS spent, "
        "count(*) FILTER (WHERE status = 'voided') AS voided, "
        "count(*) FILTER (WHERE claimed_at IS NOT NULL) AS claimed FROM redemption "
        "WHERE voucher_id = $1",
        vid,
    )
    assert row["voided"] + row["claimed"] == 10
    assert await world.balance(vid) == 50_000 - row["spent"]
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'redemption.voided' "
            "AND payload->>'voucher_id' = $1",
            str(vid),
        )
        == row["voided"]
    )
