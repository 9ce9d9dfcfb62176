"""Recovery money (docs/ledger.md, "Recoveries"): a redemption taken back before any claim
is never claimed; one taken back after its claim was paid is owed back and netted from the
provider's next claim exactly once (also when the event is delivered again and when the
recovery races a claim); reconciliation is clean and shows what is outstanding; the
statement shows recoveries."""

from __future__ import annotations

import asyncio
import uuid

from services.voucher.service.recovery import start_recovery
from tests.settlement.test_batches import _confirmation, _import, _payable


async def _recover(s, *rids: str, reason: str = "终端代刷，已核实") -> list:
    async with s.w.app.state.db.unit_of_work() as session:
        return await start_recovery(session, [uuid.UUID(r) for r in rids], reason)


async def _approve(s, claim_id: str) -> None:
    r = await s.lc.post(f"/v1/claims/{claim_id}/approve", headers=s.finance("finance:b"), json={})
    assert r.status_code == 200, r.text


async def _pay_all(s, key: str) -> dict:
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": key},
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    r = await _import(s, batch["id"], _confirmation(batch, {}))
    assert r.status_code == 200, r.text
    return batch


async def _reconcile(s) -> dict:
    r = await s.lc.get(
        "/v1/reconciliation",
        params={"period": s.period, "region_code": "450100"},
        headers=s.finance(),
    )
    assert r.status_code == 200, r.text
    return r.json()


def _problems(report: dict) -> list[dict]:
    """Discrepancies but the fixture's own: it commits a round budget to vouchers it never
    makes (OUTSTANDING_MISMATCH, compared separately with `_outstanding_gap`)."""
    return [d for d in report["discrepancies"] if d["kind"] != "OUTSTANDING_MISMATCH"]


def _outstanding_gap(report: dict) -> int:
    return sum(
        d["amount_fen"] for d in report["discrepancies"] if d["kind"] == "OUTSTANDING_MISMATCH"
    )


async def test_recovered_before_claim_is_never_claimed(settle):
    s = settle
    pid, term = await s.provider()
    r1 = await s.redeem(term, 10_000)
    r2 = await s.redeem(term, 4_000)
    await s.deliver()
    gap = _outstanding_gap(await _reconcile(s))
    [rec] = await _recover(s, r1)
    assert rec.mode == "payable" and rec.destination == "voucher"
    # Taken back before the ledger heard of it: the claim leaves it out (voucher refuses).
    claim = (await s.claim(pid)).json()
    assert [x["redemption_id"] for x in claim["redemptions"]] == [r2]
    assert claim["total_fen"] == 2_000
    await s.deliver()
    assert await _payable(s, pid) == -2_000  # the recovery cancelled r1's payable
    report = await _reconcile(s)
    assert _problems(report) == []
    # The balance went back on the voucher and into vouchers outstanding alike.
    assert _outstanding_gap(report) == gap
    assert report["recoveries"]["outstanding_fen"] == 0
    # Asked for by name: refused, nothing written.
    r = await s.claim(pid, redemption_ids=[r1])
    assert r.status_code == 422, r.text


async def test_recovery_after_paid_claim_nets_in_next_claim_once(paying):
    s = paying
    pid, term = await s.provider()
    r1 = await s.redeem(term, 10_000)  # subsidy 5,000
    await s.redeem(term, 4_000)  # subsidy 2,000
    await s.deliver()
    first = (await s.claim(pid)).json()
    await _approve(s, first["id"])
    await _pay_all(s, "batch-rec-1")
    assert await _payable(s, pid) == 0

    [rec] = await _recover(s, r1)
    assert rec.mode == "receivable"
    await s.deliver()
    # Delivered again (a relay that crashed before marking): applied once.
    conn = await s.w.app.state.db.raw_pool.acquire()
    try:
        await conn.execute(
            "UPDATE outbox SET delivered_at = NULL WHERE type = 'redemption.recovered'"
        )
    finally:
        await s.w.app.state.db.raw_pool.release(conn)
    await s.deliver()
    assert await _payable(s, pid) == 5_000  # owed back by the provider
    report = await _reconcile(s)
    assert _problems(report) == []
    assert report["recoveries"]["outstanding_fen"] == 5_000
    [out] = report["recoveries"]["outstanding"]
    assert out["redemption_id"] == r1 and out["claim_id"] is None
    assert out["memo"].startswith(f"recovery:{rec.id}")

    # Too small a claim cannot carry it: it waits.
    small = await s.redeem(term, 6_000)  # subsidy 3,000
    await s.deliver()
    waiting = (await s.claim(pid, redemption_ids=[small])).json()
    assert waiting["recoveries"] == [] and waiting["total_fen"] == 3_000
    await _approve(s, waiting["id"])
    # A larger one nets it.
    r3 = await s.redeem(term, 16_000)  # subsidy 8,000
    await s.deliver()
    second = (await s.claim(pid, idempotency_key="claim-rec-2")).json()
    assert [x["redemption_id"] for x in second["recoveries"]] == [r1]
    assert second["subsidy_fen"] == 8_000 and second["recovered_fen"] == 5_000
    assert second["total_fen"] == 3_000
    again = await s.claim(pid, idempotency_key="claim-rec-2")
    assert again.json()["id"] == second["id"]
    r = await s.claim(pid)  # nothing left: the recovery is not taken twice
    assert r.status_code == 422
    await _approve(s, second["id"])
    batch = await _pay_all(s, "batch-rec-2")
    assert sorted(ln["amount_fen"] for ln in batch["lines"]) == [3_000, 3_000]
    assert await _payable(s, pid) == 0
    report = await _reconcile(s)
    assert _problems(report) == []
    assert report["recoveries"]["outstanding_fen"] == 0
    assert report["recoveries"]["recovered_fen"] == 5_000
    statement = (
        await s.lc.get(
            f"/v1/providers/{pid}/statement", params={"period": s.period}, headers=s.admin(pid)
        )
    ).json()
    assert statement["recoveries_fen"] == 5_000
    assert statement["closing_fen"] == 0
    tb = (await s.lc.get("/v1/trial-balance", headers=s.finance())).json()
    assert tb["total_debit_fen"] == tb["total_credit_fen"]
    assert r3


async def test_recovery_racing_a_claim_is_counted_once(settle):
    s = settle
    for _ in range(3):
        pid, term = await s.provider()
        r1 = await s.redeem(term, 10_000)
        r2 = await s.redeem(term, 20_000)
        await s.deliver()
        claimed, [rec] = await asyncio.gather(s.claim(pid), _recover(s, r1))
        assert claimed.status_code == 201, claimed.text
        in_claim = r1 in {x["redemption_id"] for x in claimed.json()["redemptions"]}
        # Claimed first: owed back; recovered first: never claimed.
        assert rec.mode == ("receivable" if in_claim else "payable")
        await s.deliver()
        owed = 15_000 if in_claim else 10_000
        assert await _payable(s, pid) == -(owed - (5_000 if in_claim else 0))
        report = await _reconcile(s)
        assert _problems(report) == []
        assert r2


async def test_after_death_the_subsidy_returns_to_the_budget(settle):
    """The lifecycle work's direct recovery (no alert): for a person recorded deceased the
    voucher keeps its balance and the subsidy goes back to the budget."""
    s = settle
    pid, term = await s.provider()
    rid = await s.redeem(term, 10_000)
    await s.deliver()
    person, voucher_id, balance = await s.w.conn.fetchrow(
        "SELECT r.beneficiary_id, r.voucher_id, v.balance_fen FROM redemption r "
        "JOIN voucher v ON v.id = r.voucher_id WHERE r.id = $1",
        uuid.UUID(rid),
    )
    await s.w.conn.execute(
        "UPDATE beneficiary SET status = 'deceased', status_changed_at = now() - interval '2 days',"
        " status_reason = '死亡' WHERE id = $1",
        person,
    )

    async def available() -> int:
        r = await s.lc.get(
            "/v1/budget",
            params={"program_code": "disability_subsidy", "region_code": "450103"},
            headers=s.tokens.headers("service"),
        )
        return int(r.json()["available_fen"])

    before = await available()
    [rec] = await _recover(s, rid, reason="死亡后仍有消费")
    assert rec.destination == "budget" and rec.alert_id is None
    assert await s.w.balance(voucher_id) == balance  # nothing back on a dead person's voucher
    await s.deliver()
    assert await available() == before + 5_000
    assert await _payable(s, pid) == 0
    assert _problems(await _reconcile(s)) == []


async def test_a_disputed_redemption_is_claimed_once_its_dispute_is_answered(settle):
    """The person says a charge is wrong: no claim pays it until an officer answers. The
    month's claim leaves it out (the voucher service refuses it, the ledger drops the line);
    named alone it is refused as DISPUTED; once the dispute is rejected, the next claim
    takes it."""
    s = settle
    pid, term = await s.provider()
    r1 = await s.redeem(term, 10_000)
    r2 = await s.redeem(term, 4_000)
    await s.deliver()
    ben = await s.w.conn.fetchval(
        "SELECT beneficiary_id::text FROM redemption WHERE id = $1::uuid", r1
    )
    me = s.tokens.headers("beneficiary", sub=ben)
    r = await s.w.client.post(
        f"/v1/redemptions/{r1}/dispute", headers=me, json={"reason": "那天没有去"}
    )
    assert r.status_code == 201, r.text
    dispute_id = r.json()["id"]

    claim = (await s.claim(pid)).json()
    assert [x["redemption_id"] for x in claim["redemptions"]] == [r2]
    assert claim["total_fen"] == 2_000
    r = await s.claim(pid, redemption_ids=[r1])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["lines"] == [{"redemption_id": r1, "problem": "DISPUTED"}]

    officer = s.tokens.headers("civil_affairs", sub="officer:nn", region="450100")
    r = await s.w.client.post(
        f"/v1/disputes/{dispute_id}/decision",
        headers=officer,
        json={"decision": "rejected", "reason": "签到记录显示已服务"},
    )
    assert r.status_code == 200, r.text
    again = (await s.claim(pid)).json()
    assert [x["redemption_id"] for x in again["redemptions"]] == [r1]
    assert again["total_fen"] == 5_000


async def test_a_dispute_racing_the_claim_is_decided_one_way_or_the_other(settle):
    """The person disputes while the provider claims, on real connections: either the claim
    marked the redemption first (it is in the claim, the dispute opens on a claimed charge,
    netted later if upheld) or the dispute did (the claim leaves it out). The ledger's claim
    and the voucher side always agree."""
    s = settle
    for _ in range(5):
        pid, term = await s.provider()
        rid = await s.redeem(term, 6_000)
        await s.deliver()
        ben = await s.w.conn.fetchval(
            "SELECT beneficiary_id::text FROM redemption WHERE id = $1::uuid", rid
        )
        me = s.tokens.headers("beneficiary", sub=ben)
        disputed, claimed = await asyncio.gather(
            s.w.client.post(f"/v1/redemptions/{rid}/dispute", headers=me, json={"reason": "没去"}),
            s.claim(pid),
        )
        assert disputed.status_code == 201, disputed.text
        in_claim = claimed.status_code == 201 and rid in [
            x["redemption_id"] for x in claimed.json()["redemptions"]
        ]
        if not in_claim:  # the dispute came first: nothing else to claim
            assert claimed.status_code == 422, claimed.text
        marked = await s.w.conn.fetchval(
            "SELECT claimed_at IS NOT NULL FROM redemption WHERE id = $1::uuid", rid
        )
        assert marked == in_claim
