"""A dispute upheld takes the subsidy back (service/reviews.py `decide`): in the decision's
own transaction, once however the officers race, through the same recovery as a confirmed
alert or a recorded death; the ledger posts it, the books still agree, and the person's
receipt says where the money went. Partly upheld, or rejected, moves nothing.

Real voucher and ledger apps on their own databases (the lifecycle tests' environment)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.voucher.data.conftest import Env
from tests.voucher.data.test_lifecycle import (
    FACE,
    assert_books_agree,
    deliver,
    enrolled,
    provider,
    redeem,
    vouchers,
)


@pytest.fixture
async def funded(env: Env) -> Env:
    await env.appropriate(10_000_000)
    return env


async def _disputed(env: Env, gross: int = 6000) -> tuple[str, str, str, dict[str, str]]:
    """A person's redemption of `gross` (half of it subsidy), disputed by the person: (person,
    redemption, dispute, the person's headers)."""
    bid = await enrolled(env)
    made = await redeem(env, provider(env), bid, gross)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    me = env.tokens.headers("beneficiary", sub=bid)
    r = await env.v.post(
        f"/v1/redemptions/{rid}/dispute", headers=me, json={"reason": "那天没有人上门"}
    )
    assert r.status_code == 201, r.text
    return bid, rid, r.json()["id"], me


async def _decide(env: Env, did: str, decision: str, headers: dict[str, str] | None = None) -> Any:
    return await env.v.post(
        f"/v1/disputes/{did}/decision",
        headers=headers or env.officer,
        json={"decision": decision, "reason": "护理记录没有这次上门"},
    )


async def _balance(env: Env, bid: str) -> int:
    (voucher,) = [v for v in await vouchers(env, bid) if v["status"] == "active"]
    return int(voucher["balance_fen"])


async def _recoveries(env: Env, rid: str) -> list[Any]:
    return await env.fetch(
        "SELECT mode, destination, subsidy_fen, started_by, reason FROM recovery "
        "WHERE redemption_id = $1",
        uuid.UUID(rid),
    )


async def test_an_upheld_dispute_gives_the_subsidy_back_and_the_ledger_posts_it_once(funded):
    env = funded
    bid, rid, did, me = await _disputed(env)
    assert await _balance(env, bid) == FACE - 3000
    await deliver(env)  # the redemption is on the provider's payable

    r = await _decide(env, did, "upheld")
    assert r.status_code == 200, r.text
    # not claimed yet: it will never be paid; the person is alive and the voucher open: the
    # subsidy is back on it, at once
    assert r.json()["recovery"]["subsidy_fen"] == 3000
    assert (r.json()["recovery"]["mode"], r.json()["recovery"]["destination"]) == (
        "payable",
        "voucher",
    )
    assert await _balance(env, bid) == FACE
    (row,) = await _recoveries(env, rid)
    assert (row["mode"], row["destination"], row["subsidy_fen"]) == ("payable", "voucher", 3000)
    assert row["started_by"] == "officer:nanning" and row["reason"].startswith("申诉成立")

    # The receipt says so, to the person and to the officer.
    receipt = (await env.v.get(f"/v1/redemptions/{rid}/receipt", headers=me)).json()
    assert receipt["recovery"]["destination"] == "voucher"
    assert receipt["dispute"]["recovery"]["subsidy_fen"] == 3000
    case = (await env.v.get(f"/v1/disputes/{did}", headers=env.officer)).json()
    assert case["recovery"]["subsidy_fen"] == 3000

    # Deciding again is refused and takes nothing more.
    again = await _decide(env, did, "upheld")
    assert again.status_code == 409, again.text
    assert len(await _recoveries(env, rid)) == 1

    # The ledger takes it off the provider's payable, once; the books agree.
    await deliver(env)
    kinds = await env.ledger_fetch(
        "SELECT kind FROM entry WHERE ref = $1 AND kind IN "
        "('redemption_recovery', 'recovery_receivable')",
        rid,
    )
    assert [k["kind"] for k in kinds] == ["redemption_recovery"]
    await assert_books_agree(env)


async def test_an_appeal_upheld_takes_it_back_and_partly_upheld_or_rejected_do_not(funded):
    env = funded
    bid, rid, did, me = await _disputed(env)
    r = await _decide(env, did, "rejected")
    assert r.status_code == 200 and r.json()["recovery"] is None
    assert await _recoveries(env, rid) == [] and await _balance(env, bid) == FACE - 3000
    r = await env.v.post(f"/v1/disputes/{did}/appeal", headers=me, json={"reason": "确实没来"})
    assert r.status_code == 200, r.text
    r = await _decide(env, did, "upheld")
    assert r.status_code == 200 and r.json()["recovery"]["destination"] == "voucher"
    assert await _balance(env, bid) == FACE

    other, orid, odid, _ = await _disputed(env)
    r = await _decide(env, odid, "partly_upheld")
    assert r.status_code == 200 and r.json()["recovery"] is None
    assert await _recoveries(env, orid) == [] and await _balance(env, other) == FACE - 3000
    await assert_books_agree(env)


async def test_officers_racing_the_decision_take_the_subsidy_back_once(funded):
    env = funded
    bid, rid, did, _ = await _disputed(env)
    officers = [
        env.tokens.headers("civil_affairs", sub=f"officer:{n}", region="450100") for n in range(8)
    ]
    answers = await asyncio.gather(*(_decide(env, did, "upheld", h) for h in officers))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert len(await _recoveries(env, rid)) == 1
    assert await _balance(env, bid) == FACE
    await assert_books_agree(env)
