"""Online co-payments reach the provider: claimed with the period's subsidy (net of refunds),
paid in the same payment line, exactly once; cash co-payments are never in the ledger, so
never claimed or paid; claims racing take a co-payment once; statement and reconciliation
show it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.common.auth import Role
from services.common.db import Database
from services.ledger.settlement.repository import copay as copay_repo_ledger
from services.voucher.clients import StripeGateway
from services.voucher.repository import copay as copay_repo
from services.voucher.service import copay_refund
from tests.settlement.test_batches import _confirmation, _import
from tests.settlement.test_copay import _online_copay, localstripe  # noqa: F401


async def _sum(s, sql: str, *args) -> int:
    return int(await s.fetchval(sql, *args) or 0)


async def test_subsidy_and_net_online_copay_are_paid_once(paying, localstripe):  # noqa: F811
    s = paying
    s.w.app.state.stripe_gateway = StripeGateway("sk_test_yiyang_local", localstripe)
    pid, term = await s.provider()
    admin = s.tokens.headers(Role.provider_admin, provider_id=pid)
    online = await s.redeem(term, 10_000)  # subsidy 5,000; co-payment 5,000 online
    cash = await s.redeem(term, 4_000)  # subsidy 2,000; co-payment 2,000 in cash
    cp = await _online_copay(s, localstripe, term, online)
    r = await s.w.client.post(
        f"/v1/copayments/{cp['id']}/refund",
        headers=admin,
        json={"amount_fen": 1_500, "idempotency_key": "refund-cc-1"},
    )
    assert r.status_code == 200, r.text
    r = await s.w.client.post(
        f"/v1/redemptions/{cash}/copayment", headers=term.headers, json={"method": "cash"}
    )
    assert r.status_code == 200, r.text
    await s.deliver()

    r = await s.lc.get(
        "/v1/claims/claimable",
        headers=s.admin(pid),
        params={"provider_id": pid, "period": s.period},
    )
    assert (r.json()["subsidy_fen"], r.json()["copay_fen"]) == (7_000, 3_500)
    r = await s.claim(pid)
    assert r.status_code == 201, r.text
    claim = r.json()
    assert (claim["subsidy_fen"], claim["copay_fen"], claim["total_fen"]) == (7_000, 3_500, 10_500)
    assert sorted(c["amount_fen"] for c in claim["copayments"]) == [-1_500, 5_000]
    assert {c["copayment_id"] for c in claim["copayments"]} == {cp["id"]}
    r = await s.lc.post(
        f"/v1/claims/{claim['id']}/approve", headers=s.finance("finance:b"), json={}
    )
    assert r.status_code == 200, r.text
    r = await s.lc.get("/v1/aging", headers=s.finance())
    mine = next(p for p in r.json()["providers"] if p["provider_id"] == pid)
    assert (mine["total_fen"], mine["copay_fen"]) == (10_500, 3_500)
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": "batch-copay-0001"},
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert [ln["amount_fen"] for ln in batch["lines"]] == [10_500]

    treasury = "SELECT coalesce(sum(balance_fen), 0) FROM account WHERE code = '1001'"
    clearing = "SELECT coalesce(sum(balance_fen), 0) FROM account WHERE code = '1102'"
    treasury_before, clearing_before = await _sum(s, treasury), await _sum(s, clearing)
    assert clearing_before == 5_000 - 1_500  # the cash co-payment is not ours
    body = _confirmation(batch, {})
    r = await _import(s, batch["id"], body)
    assert r.status_code == 200 and r.json()["paid_fen"] == 10_500, r.text
    entries = await _sum(s, "SELECT count(*) FROM entry")
    # the same file, and another file naming the same paid line: nothing more is paid
    again = await _import(s, batch["id"], body)
    assert again.json()["duplicate_file"] is True
    other = await _import(s, batch["id"], body.replace(b"BK1", b"BK2"))
    assert other.status_code == 200 and other.json()["paid_fen"] == 0
    assert other.json()["unchanged"] == [batch["lines"][0]["reference"]]
    assert await _sum(s, "SELECT count(*) FROM entry") == entries

    assert treasury_before - await _sum(s, treasury) == 7_000  # the subsidy, from treasury
    assert clearing_before - await _sum(s, clearing) == 3_500  # the co-payment, from clearing
    owed = (
        "SELECT coalesce(-sum(balance_fen), 0) FROM account WHERE code = '2201' "
        "AND provider_id = $1"
    )
    assert await _sum(s, owed, pid) == 0  # nothing owed: the cash was never ours to pay
    assert await _sum(s, owed + " AND funding_source <> 'copay'", pid) == 0

    r = await s.lc.get(
        f"/v1/providers/{pid}/statement", headers=s.admin(pid), params={"period": s.period}
    )
    st = r.json()
    assert (
        st["redemptions_fen"],
        st["copay_received_fen"],
        st["copay_refunded_fen"],
        st["payments_fen"],
        st["copay_paid_fen"],
        st["closing_fen"],
        st["copay_closing_fen"],
    ) == (7_000, 5_000, 1_500, 10_500, 3_500, 0, 0)

    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    rec = r.json()
    assert rec["copay_settlement"] == {
        "received_fen": 3_500,
        "claimed_fen": 3_500,
        "unclaimed_fen": 0,
        "refunds_to_recover_fen": 0,
    }
    # (the fixture commits budget for vouchers the voucher side never issued: 2101 differs)
    assert [d for d in rec["discrepancies"] if d["kind"] != "OUTSTANDING_MISMATCH"] == []

    # a claim line that no longer matches its entry is named
    conn = await s.owner()
    try:
        await conn.execute("ALTER TABLE claim_copay_line DISABLE TRIGGER USER")
        await conn.execute("UPDATE claim_copay_line SET amount_fen = 4000 WHERE amount_fen = 5000")
        await conn.execute("ALTER TABLE claim_copay_line ENABLE TRIGGER USER")
    finally:
        await conn.close()
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    found = [(d["kind"], d["amount_fen"]) for d in r.json()["discrepancies"]]
    assert ("COPAY_CLAIM_MISMATCH", -1_000) in found


async def test_claims_racing_take_a_copayment_once(settle, localstripe):  # noqa: F811
    s = settle
    s.w.app.state.stripe_gateway = StripeGateway("sk_test_yiyang_local", localstripe)
    pid, term = await s.provider()
    rids = [await s.redeem(term, 6_000) for _ in range(2)]
    for rid in rids:
        await _online_copay(s, localstripe, term, rid)
    await s.deliver()
    answers = await asyncio.gather(
        *(s.claim(pid, idempotency_key=f"race-copay-{i}") for i in range(6))
    )
    assert {a.status_code for a in answers} <= {201, 422}, [a.text for a in answers]
    made = {a.json()["id"]: a.json() for a in answers if a.status_code == 201}
    assert sum(c["copay_fen"] for c in made.values()) == 6_000
    assert await s.fetchval("SELECT count(*) FROM claim_copay_line WHERE active") == 2
    assert (
        await s.fetchval("SELECT count(DISTINCT claim_id) FROM claim_copay_line WHERE active") == 1
    )
    r = await s.lc.get(
        "/v1/claims/claimable",
        headers=s.admin(pid),
        params={"provider_id": pid, "period": s.period},
    )
    assert r.json()["copay_fen"] == 0 and r.json()["copayments"] == []


async def test_the_database_refuses_a_legacy_cash_copay_entry_in_claims(settle):
    """A cash co-payment posts nothing now; one posted before that (its method recorded as
    cash) is never claimed, and the database refuses it in a claim."""
    s = settle
    pid, term = await s.provider()
    rid = await s.redeem(term, 3_000)
    r = await s.w.client.post(
        f"/v1/redemptions/{rid}/copayment", headers=term.headers, json={"method": "cash"}
    )
    assert r.status_code == 200
    await s.deliver()
    assert await s.fetchval("SELECT count(*) FROM entry WHERE kind = 'copay_received'") == 0
    # the legacy entry: method recorded as cash, then posted (as the ledger used to)
    async with s.w.app.state.db.unit_of_work() as session:
        source = await copay_repo.payload_source(session, uuid.UUID(rid))
        c = await copay_repo.by_redemption(session, uuid.UUID(rid))
    payload = copay_refund.event_payload(source, c, 1_500)
    conn = await s.owner()
    try:
        await conn.execute(
            "INSERT INTO copayment_method (copayment_id, method, redemption_id, "
            "provider_id) VALUES ($1, 'cash', $2, $3)",
            str(c.id),
            rid,
            pid,
        )
    finally:
        await conn.close()
    r = await s.lc.post(
        "/v1/events",
        headers=s.tokens.headers(Role.service),
        json={
            "events": [
                {
                    "event_id": str(uuid.uuid4()),
                    "type": "copay.received",
                    "occurred_at": "2026-11-01T10:00:00+08:00",
                    "payload": {**payload, "method": "stripe"},
                }
            ]
        },
    )
    assert r.json()["results"][0]["status"] == "applied", r.text
    claim = (await s.claim(pid)).json()
    assert claim["copay_fen"] == 0 and claim["copayments"] == []  # cash is never claimed
    conn = await s.owner()
    try:
        entry_id, copayment_id = await conn.fetchrow(
            "SELECT id, ref FROM entry WHERE kind = 'copay_received'"
        )
        with pytest.raises(asyncpg.RaiseError, match="CLAIM_LINE_INVALID"):
            await conn.execute(
                "INSERT INTO claim_copay_line (claim_id, entry_id, copayment_id, amount_fen) "
                "VALUES ($1::uuid, $2, $3, 1500)",
                claim["id"],
                entry_id,
                copayment_id,
            )
    finally:
        await conn.close()
    # reconciliation names the money the ledger must not hold, on the ledger's side
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    found = [
        (d["kind"], d["record"], d["side"], d["amount_fen"])
        for d in r.json()["discrepancies"]
        if d["kind"].startswith("COPAY")
    ]
    assert found == [("COPAY_MISMATCH", f"copayment:{c.id}", "ledger", 1_500)]


def _next_period(period: str, months: int) -> str:
    year, month = divmod(int(period[:4]) * 12 + int(period[5:]) - 1 + months, 12)
    return f"{year:04d}-{month + 1:02d}"


async def test_a_refund_after_the_claim_is_recovered_from_a_later_claim(settle, localstripe):  # noqa: F811
    """The co-payment went into a claim (and may already be paid to the provider); the
    family is then refunded. That refund is owed back by the provider: reconciliation counts
    it, and the provider's next claim takes it back — in this period or any later one,
    never an earlier one."""
    s = settle
    s.w.app.state.stripe_gateway = StripeGateway("sk_test_yiyang_local", localstripe)
    pid, term = await s.provider()
    admin = s.tokens.headers(Role.provider_admin, provider_id=pid)
    rid = await s.redeem(term, 10_000)
    cp = await _online_copay(s, localstripe, term, rid)
    await s.deliver()
    r = await s.claim(pid)
    assert r.status_code == 201 and r.json()["copay_fen"] == 5_000, r.text
    r = await s.w.client.post(
        f"/v1/copayments/{cp['id']}/refund",
        headers=admin,
        json={"amount_fen": 2_000, "idempotency_key": "late-refund-1"},
    )
    assert r.status_code == 200, r.text
    await s.deliver()

    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    assert r.json()["copay_settlement"]["refunds_to_recover_fen"] == 2_000
    db = Database(s.ldb.owner_url, pool_size=1)
    try:
        async with db.unit_of_work() as session:
            later = await copay_repo_ledger.claimable(session, pid, _next_period(s.period, 2))
            assert [(row.kind, int(row.amount_fen)) for row in later] == [
                ("copay_refunded", -2_000)
            ]
            earlier = _next_period(s.period, -1)
            assert await copay_repo_ledger.claimable(session, pid, earlier) == []
    finally:
        await db.dispose()
    # in this period: the next claim with enough subsidy takes it back
    await s.redeem(term, 10_000)
    await s.deliver()
    r = await s.claim(pid, idempotency_key="claim-after-refund")
    assert r.status_code == 201, r.text
    assert (r.json()["subsidy_fen"], r.json()["copay_fen"], r.json()["total_fen"]) == (
        5_000,
        -2_000,
        3_000,
    )
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    assert r.json()["copay_settlement"]["refunds_to_recover_fen"] == 0


async def test_two_providers_may_use_the_same_refund_key(settle, localstripe):  # noqa: F811
    """A refund's idempotency key belongs to its co-payment: another provider choosing the
    same key for its own refund is not refused, and each co-payment is refunded once."""
    s = settle
    s.w.app.state.stripe_gateway = StripeGateway("sk_test_yiyang_local", localstripe)
    done = []
    for _ in range(2):
        pid, term = await s.provider()
        cp = await _online_copay(s, localstripe, term, await s.redeem(term, 10_000))
        admin = s.tokens.headers(Role.provider_admin, provider_id=pid)
        for _ in range(2):  # and a retry with the key refunds once
            r = await s.w.client.post(
                f"/v1/copayments/{cp['id']}/refund",
                headers=admin,
                json={"amount_fen": 1_000, "idempotency_key": "refund-key-1"},
            )
            assert r.status_code == 200, r.text
        done.append(r.json()["refunded_fen"])
    assert done == [1_000, 1_000]
