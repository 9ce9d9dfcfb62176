"""Redemptions that wait for a statement connection run together (group commit,
services/common/statement_pool.py and REDEEM_TOGETHER in repository/redemption.py): real
requests racing through a voucher service whose pool has only two connections, so that most
of them wait and run in statements of several. Every guarantee of REDEEM alone still holds:
one token pays once, one request moves money once, a voucher is never overdrawn, and two
batches of the same people never wait for each other."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.common.ids import new_uuid
from services.common.statement_pool import StatementPool
from services.voucher.main import create_app
from services.voucher.repository import redemption as repo
from services.voucher.service.redemption import local_day
from tests.conftest import running
from tests.voucher.redeem.conftest import World, key, qr, settings_for


@contextlib.asynccontextmanager
async def two_connections(voucher_db, **settings: Any) -> AsyncIterator[World]:
    """A running voucher service whose statement pool has two connections."""
    app = create_app(settings_for(voucher_db.app_url, statement_pool_size=2, **settings))
    conn = await asyncpg.connect(voucher_db.owner_url)
    try:
        async with running(app) as client:
            w = World(app, client, voucher_db.owner_url, conn)
            w.baseline = await w.raw_counts()
            yield w
    finally:
        await conn.close()


@pytest.fixture
async def world(voucher_db):
    async with two_connections(voucher_db) as w:
        yield w


def _pool(world: World) -> StatementPool:
    pool = world.app.state.db.statements
    assert pool is not None
    return pool


def _bath(token: str, gross: int = 1000, idempotency_key: str | None = None) -> dict:
    return {
        "token": token,
        "service_code": "CARE_BATH",
        "gross_fen": gross,
        "idempotency_key": idempotency_key or key(),
    }


async def test_sixty_people_at_once_run_together_and_each_is_paid_once(world):
    pid = world.add_provider()
    terms = [world.add_terminal(pid) for _ in range(6)]
    people = [await world.add_beneficiary() for _ in range(60)]
    vouchers = [await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000) for ben in people]
    answers = await asyncio.gather(
        *(
            world.client.post("/v1/redemptions", headers=terms[i % 6].headers, json=_bath(qr(b)))
            for i, b in enumerate(people)
        )
    )
    assert [r.status_code for r in answers] == [201] * 60
    assert [r.json()["voucher_id"] for r in answers] == [str(v) for v in vouchers]
    assert {r.json()["subsidy_fen"] for r in answers} == {500}
    assert [await world.balance(v) for v in vouchers] == [49_500] * 60
    assert await world.counts() == (60, 60, 60)
    pool = _pool(world)
    assert pool.statements_together >= 1 and pool.calls_together >= 2  # they did wait
    assert pool.statements_undone == 0
    # Each event carries its own redemption's figures.
    events = await world.conn.fetch(
        "SELECT payload->>'redemption_id' AS rid, (payload->>'subsidy_fen')::int AS subsidy,"
        " payload->>'voucher_id' AS vid FROM outbox WHERE type = 'redemption.created'"
    )
    by_id = {r.json()["id"]: r.json()["voucher_id"] for r in answers}
    assert {e["rid"]: e["vid"] for e in events} == by_id
    assert {e["subsidy"] for e in events} == {500}


async def test_one_token_raced_among_others_pays_once_and_the_others_all_pay(world):
    pid = world.add_provider()
    terms = [world.add_terminal(pid) for _ in range(10)]
    people = [await world.add_beneficiary() for _ in range(30)]
    for ben in people:
        await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000)
    replayed = qr(people[0])
    bodies = [_bath(qr(b)) for b in people[1:]] + [_bath(replayed) for _ in range(20)]
    answers = await asyncio.gather(
        *(
            world.client.post("/v1/redemptions", headers=terms[i % 10].headers, json=body)
            for i, body in enumerate(bodies)
        )
    )
    codes = [r.status_code for r in answers]
    assert codes[:29] == [201] * 29  # everyone else paid
    assert sorted(codes[29:]) == [201] + [409] * 19
    assert {r.json()["error"]["code"] for r in answers[29:] if r.status_code != 201} == {
        "TOKEN_USED"
    }
    assert await world.counts() == (30, 30, 30)
    # A batch holding the replays was undone and its calls ran alone.
    assert _pool(world).statements_undone >= 1


async def test_retries_of_one_request_waiting_together_move_money_once(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    others = [await world.add_beneficiary() for _ in range(10)]
    for ben in others:
        await world.add_voucher(ben)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    retried = _bath(qr(ben), gross=2000)
    answers = await asyncio.gather(
        *(
            world.client.post("/v1/redemptions", headers=term.headers, json=retried)
            for _ in range(15)
        ),
        *(
            world.client.post("/v1/redemptions", headers=term.headers, json=_bath(qr(b)))
            for b in others
        ),
    )
    retries = answers[:15]
    assert sorted(r.status_code for r in retries) == [200] * 14 + [201]
    assert len({r.json()["id"] for r in retries}) == 1
    assert [r.status_code for r in answers[15:]] == [201] * 10
    assert await world.balance(vid) == 49_000
    assert await world.counts() == (11, 11, 11)


async def test_one_voucher_drained_by_redemptions_waiting_together_is_never_overdrawn(world):
    pid = world.add_provider()
    terms = [world.add_terminal(pid) for _ in range(10)]
    ben = await world.add_beneficiary()
    face = 10_000
    vid = await world.add_voucher(ben, face_fen=face, ratio_bp=10_000)
    answers = await asyncio.gather(
        *(
            world.client.post(
                "/v1/redemptions", headers=terms[i % 10].headers, json=_bath(qr(ben), 333 + i)
            )
            for i in range(50)
        )
    )
    ok = [r.json() for r in answers if r.status_code == 201]
    refused = {r.json()["error"]["code"] for r in answers if r.status_code != 201}
    assert refused == {"VOUCHER_EXHAUSTED"}
    assert await world.balance(vid) == 0
    assert sum(r["subsidy_fen"] for r in ok) == face
    assert len({r["balance_fen"] for r in ok}) == len(ok)  # each saw the one before it
    assert (
        await world.conn.fetchval(
            "SELECT sum(subsidy_fen) FROM redemption WHERE voucher_id = $1", vid
        )
        == face
    )
    assert _pool(world).statements_together >= 1


async def test_two_batches_of_the_same_people_never_wait_for_each_other(world):
    """Two workers' pools each run the same twenty people's redemptions together, handed in
    opposite orders: each batch locks the vouchers in the people's order, so neither waits
    for a lock the other holds while holding one it needs (a deadlock would undo a batch)."""
    people = [await world.add_beneficiary() for _ in range(20)]
    vouchers = [await world.add_voucher(ben, face_fen=50_000, ratio_bp=5000) for ben in people]
    url = world.app.state.db.url
    now = datetime.now(UTC)

    def redeem(pool: StatementPool, ben):
        return repo.redeem(
            pool,
            beneficiary_id=ben,
            nonce=os.urandom(8),
            nonce_expires_at=now,
            provider_kind="home_care",
            lines=repo.Lines(["CARE_BATH"], ["bathing"], [1], [1000]),
            gross_fen=1000,
            price_list_version=1,
            today=local_day(now),
            now=now,
            redemption_id=new_uuid(),
            event_id=new_uuid(),
            provider_id="p",
            terminal_id="t",
            idempotency_key=key(),
            request_hash=b"h",
            card_id=None,
            provider_region="450103",
        )

    pools = [
        StatementPool(lambda: asyncpg.connect(**asyncpg_connect_kwargs(url)), 1) for _ in range(2)
    ]
    try:
        for _round in range(3):
            busy = [asyncio.create_task(p.fetchrow("SELECT pg_sleep(0.05)")) for p in pools]
            await asyncio.sleep(0)
            done = await asyncio.gather(
                *(redeem(pools[0], b) for b in people),
                *(redeem(pools[1], b) for b in reversed(people)),
            )
            await asyncio.gather(*busy)
            assert all(d is not None for d in done)
        assert [p.statements_undone for p in pools] == [0, 0]
        assert [p.calls_together for p in pools] == [60, 60]
    finally:
        for p in pools:
            await p.close()
    assert [await world.balance(v) for v in vouchers] == [50_000 - 6 * 500] * 20


async def test_with_redemptions_together_switched_off_each_runs_alone(voucher_db):
    """`YIYANG_VOUCHER_REDEEM_TOGETHER=false`: the same racing requests, every one its own
    statement and commit, with the same answers."""
    async with two_connections(voucher_db, redeem_together=False) as world:
        pid = world.add_provider()
        term = world.add_terminal(pid)
        people = [await world.add_beneficiary() for _ in range(20)]
        vouchers = [await world.add_voucher(b, face_fen=50_000, ratio_bp=5000) for b in people]
        answers = await asyncio.gather(
            *(
                world.client.post("/v1/redemptions", headers=term.headers, json=_bath(qr(b)))
                for b in people
            )
        )
        assert [r.status_code for r in answers] == [201] * 20
        assert [await world.balance(v) for v in vouchers] == [49_500] * 20
        pool = _pool(world)
        assert pool.together is False
        assert pool.statements_together == 0 and pool.calls_together == 0
