"""Nursing-subsidy cash benefits (2202 beneficiary payable) go out in payment batches, payee
the beneficiary with the payout account the voucher service holds: the instruction file
carries them, the bank's confirmation posts 2202 Dr / 1001 Cr once, failed lines return to
payable, a person without an account is listed as not payable; bad input and scope refused."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime

from services.common.auth import Role
from services.voucher.schemas.beneficiaries import PayoutAccountCreate
from services.voucher.service.beneficiaries import seal_payout_account
from tests.settlement.conftest import CITY

PROGRAM = "disability_subsidy"


async def _benefits(s, amounts: list[int], with_account: list[bool]) -> list[str]:
    """People in the voucher service (some with a payout account) and one cash benefit each,
    posted to the ledger by a cash_benefit.issued event."""
    r = await s.lc.post(
        "/v1/commitments",
        headers=s.tokens.headers(Role.service),
        json={
            "idempotency_key": f"issuance:{uuid.uuid4()}:0",
            "purpose": "cash_benefit",
            "program_code": PROGRAM,
            "region_code": "450103",
            "period": s.period,
            "amount_fen": sum(amounts),
            "count": len(amounts),
            "funding_shares": {"central": 9500, "regional": 500},
        },
    )
    assert r.status_code == 201, r.text
    cipher = s.w.app.state.pii_cipher
    ids, events = [], []
    for n, (amount, has) in enumerate(zip(amounts, with_account)):
        bid = await s.w.add_beneficiary()
        if has:
            blob = seal_payout_account(
                cipher,
                PayoutAccountCreate(
                    bank_name="中国农业银行南宁分行",
                    account_name=f"受益人{n}",
                    account_number=f"62284800{n:011d}",
                ),
            )
            await s.w.conn.execute(
                "UPDATE beneficiary SET payout_account_enc = $2, payout_account_set_at = now(), "
                "payout_account_set_by = 'test' WHERE id = $1",
                bid,
                blob,
            )
        ids.append(str(bid))
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "type": "cash_benefit.issued",
                "occurred_at": datetime.now(UTC).isoformat(),
                "payload": {
                    "program_code": PROGRAM,
                    "region_code": "450103",
                    "budget_region_code": CITY,
                    "period": s.period,
                    "funding_shares": {"central": 9500, "regional": 500},
                    "benefit_id": str(uuid.uuid4()),
                    "beneficiary_id": str(bid),
                    "amount_fen": amount,
                },
            }
        )
    r = await s.lc.post(
        "/v1/events", headers=s.tokens.headers(Role.service), json={"events": events}
    )
    assert r.status_code == 200, r.text
    assert all(x["status"] == "applied" for x in r.json()["results"]), r.text
    return ids


async def _owed(s, bid: str) -> int:
    return await s.fetchval(
        "SELECT coalesce(sum(balance_fen), 0) FROM account "
        "WHERE code = '2202' AND beneficiary_id = $1",
        bid,
    )


def _confirmation(batch: dict, failed: set[str]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["batch_reference", "line_reference", "status", "amount_fen", "reason"])
    for ln in batch["lines"]:
        st = "failed" if ln["beneficiary_id"] in failed else "paid"
        w.writerow(
            [
                batch["reference"],
                ln["reference"],
                st,
                ln["amount_fen"],
                "户名不符" if st == "failed" else "",
            ]
        )
    return out.getvalue().encode()


def _body(s, key: str, **over) -> dict:
    return {
        "region_code": CITY,
        "cash_benefit_period": s.period,
        "include_claims": False,
        "idempotency_key": key,
        **over,
    }


async def test_cash_benefits_batched_paid_once_failed_return_missing_account_listed(settle):
    s = settle
    b1, b2, b3 = await _benefits(s, [60_000, 45_000, 30_000], [True, True, False])
    assert await _owed(s, b1) == -60_000
    # before batching, finance sees what would be paid and who cannot be (masked)
    r = await s.lc.get(
        "/v1/cash-benefits/payable",
        headers=s.finance(),
        params={"period": s.period, "region_code": CITY},
    )
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["total_fen"] == 105_000
    assert {b["beneficiary_id"] for b in listed["payable"]} == {b1, b2}
    assert [(b["beneficiary_id"], b["reason"]) for b in listed["not_payable"]] == [
        (b3, "NO_PAYOUT_ACCOUNT")
    ]
    assert "62284800" not in r.text
    assert all(b["account_number_masked"].endswith(("0000", "0001")) for b in listed["payable"])
    # each person named as finance may read them: masked (测试 -> 测*), never in full
    assert [b["name_masked"] for b in listed["payable"] + listed["not_payable"]] == ["测*"] * 3
    assert "测试" not in r.text
    r = await s.lc.get(
        "/v1/cash-benefits/payable",
        headers=s.finance("f:lz", region="450200"),
        params={"period": s.period, "region_code": CITY},
    )
    assert r.status_code == 403
    r = await s.lc.get(
        "/v1/cash-benefits/payable",
        headers=s.finance(),
        params={"period": "2026-13", "region_code": CITY},
    )
    assert r.status_code == 422

    r = await s.lc.post(
        "/v1/payment-batches", headers=s.finance("finance:c"), json=_body(s, "cash-batch-0001")
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["count"] == 2 and batch["total_fen"] == 105_000
    assert {ln["beneficiary_id"] for ln in batch["lines"]} == {b1, b2}
    assert all(
        ln["payee_kind"] == "beneficiary" and ln["claim_id"] is None for ln in batch["lines"]
    )
    [missing] = batch["not_payable"]
    assert (missing["beneficiary_id"], missing["reason"], missing["amount_fen"]) == (
        b3,
        "NO_PAYOUT_ACCOUNT",
        30_000,
    )
    assert "62284800" not in r.text  # account numbers only in the instruction file

    f = await s.lc.get(f"/v1/payment-batches/{batch['id']}/file", headers=s.finance())
    rows = {row["account_number"]: row for row in csv.DictReader(io.StringIO(f.content.decode()))}
    assert set(rows) == {"6228480000000000000", "6228480000000000001"}
    assert rows["6228480000000000000"]["payee_name"] == "受益人0"
    assert rows["6228480000000000000"]["amount_fen"] == "60000"
    assert rows["6228480000000000000"]["purpose"].startswith(f"护理补贴 {s.period}")

    # idempotency: same key + body -> same batch; other body -> 409
    again = await s.lc.post(
        "/v1/payment-batches", headers=s.finance("finance:c"), json=_body(s, "cash-batch-0001")
    )
    assert again.status_code == 201 and again.json()["id"] == batch["id"]
    other = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json=_body(s, "cash-batch-0001", include_claims=True),
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # nothing left to batch: the person without an account is still named
    r = await s.lc.post(
        "/v1/payment-batches", headers=s.finance("finance:c"), json=_body(s, "cash-batch-0002")
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "NOTHING_TO_PAY"
    assert r.json()["error"]["details"]["not_payable"][0]["beneficiary_id"] == b3

    cash_before = await s.fetchval("SELECT sum(balance_fen) FROM account WHERE code = '1001'")
    entries = await s.fetchval("SELECT count(*) FROM entry")
    body = _confirmation(batch, failed={b2})
    # maker-checker: the officer who made the batch may not post its payments
    r = await s.lc.post(
        f"/v1/payment-batches/{batch['id']}/confirmations",
        content=body,
        headers={**s.finance("finance:c"), "content-type": "text/csv"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "MAKER_CHECKER_VIOLATION"
    assert await s.fetchval("SELECT count(*) FROM entry") == entries
    assert await _owed(s, b1) == -60_000
    r = await s.lc.post(
        f"/v1/payment-batches/{batch['id']}/confirmations",
        content=body,
        headers={**s.finance("finance:d"), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["paid"]) == 1 and len(r.json()["failed"]) == 1
    assert r.json()["paid_fen"] == 60_000
    assert await _owed(s, b1) == 0 and await _owed(s, b2) == -45_000
    cash_after = await s.fetchval("SELECT sum(balance_fen) FROM account WHERE code = '1001'")
    assert cash_before - cash_after == 60_000
    assert await s.fetchval("SELECT count(*) FROM entry") == entries + 1
    assert (
        await s.fetchval(
            "SELECT count(*) FROM entry WHERE kind = 'benefit_payment' AND beneficiary_id = $1", b1
        )
        == 1
    )
    # the same file again posts nothing
    dup = await s.lc.post(
        f"/v1/payment-batches/{batch['id']}/confirmations",
        content=body,
        headers={**s.finance("finance:d"), "content-type": "text/csv"},
    )
    assert dup.status_code == 200 and dup.json()["duplicate_file"] is True
    assert await s.fetchval("SELECT count(*) FROM entry") == entries + 1
    # the failed benefit is payable again and goes in the next batch
    r = await s.lc.post(
        "/v1/payment-batches", headers=s.finance("finance:c"), json=_body(s, "cash-batch-0003")
    )
    assert r.status_code == 201, r.text
    assert [ln["beneficiary_id"] for ln in r.json()["lines"]] == [b2]
    assert (
        await s.fetchval("SELECT trial FROM (SELECT sum(balance_fen) AS trial FROM account) t")
    ) == 0


async def test_cash_benefit_batch_refuses_bad_input_wrong_role_and_scope(settle):
    s = settle
    await _benefits(s, [20_000], [True])

    async def batches() -> int:
        return await s.fetchval("SELECT count(*) FROM payment_batch")

    for bad in (
        _body(s, "k-bad-0001", cash_benefit_period="2026-13"),
        _body(s, "k-bad-0002", cash_benefit_period=None),
        _body(s, "k-bad-0003", claim_ids=[str(uuid.uuid4())]),
        _body(s, "k-bad-0004", surprise=1),
    ):
        r = await s.lc.post("/v1/payment-batches", headers=s.finance(), json=bad)
        assert r.status_code == 422, (bad, r.text)
    # finance of another city: refused for this region, finds nothing in its own
    other = s.finance("finance:lz", region="450200")
    r = await s.lc.post("/v1/payment-batches", headers=other, json=_body(s, "k-scope-01"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await s.lc.post(
        "/v1/payment-batches", headers=other, json=_body(s, "k-scope-02", region_code="450200")
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "NOTHING_TO_PAY"
    for role in (Role.civil_affairs, Role.auditor, Role.service):
        r = await s.lc.post(
            "/v1/payment-batches",
            json=_body(s, f"k-role-{role.value}"),
            headers=s.tokens.headers(role, region=CITY),
        )
        assert r.status_code == 403, (role, r.text)
    assert await batches() == 0
    assert await s.fetchval("SELECT count(*) FROM payment_line") == 0


async def test_officers_racing_to_batch_the_same_cash_benefits_one_gets_each(settle):
    s = settle
    ids = await _benefits(s, [10_000, 11_000, 12_000], [True, True, True])

    async def batch(n: int):
        return await s.lc.post(
            "/v1/payment-batches",
            headers=s.finance(f"finance:{n}"),
            json=_body(s, f"race-batch-{n:04d}"),
        )

    answers = await asyncio.gather(*(batch(n) for n in range(4)))
    ok = [a for a in answers if a.status_code == 201]
    assert all(a.status_code in (201, 422) for a in answers), [a.text for a in answers]
    batched = [ln["beneficiary_id"] for a in ok for ln in a.json()["lines"]]
    assert sorted(batched) == sorted(ids)  # each benefit in exactly one batch
    assert await s.fetchval("SELECT count(*) FROM payment_line") == 3


async def test_claims_and_cash_benefits_go_out_in_the_same_batch(paying):
    s = paying
    pid, term = await s.provider()
    for g in (10_000,):
        await s.redeem(term, g)
    await s.deliver()
    claim = (await s.claim(pid)).json()
    r = await s.lc.post(
        f"/v1/claims/{claim['id']}/approve", headers=s.finance("finance:b"), json={}
    )
    assert r.status_code == 200, r.text
    [bid] = await _benefits(s, [25_000], [True])
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={
            "region_code": CITY,
            "cash_benefit_period": s.period,
            "idempotency_key": "mixed-0001",
        },
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    kinds = {ln["payee_kind"]: ln for ln in batch["lines"]}
    assert set(kinds) == {"provider", "beneficiary"}
    assert kinds["provider"]["claim_id"] == claim["id"]
    assert kinds["beneficiary"]["beneficiary_id"] == bid
    assert batch["total_fen"] == 5_000 + 25_000
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["batch_reference", "line_reference", "status", "amount_fen"])
    for ln in batch["lines"]:
        w.writerow([batch["reference"], ln["reference"], "paid", ln["amount_fen"]])
    r = await s.lc.post(
        f"/v1/payment-batches/{batch['id']}/confirmations",
        content=out.getvalue().encode(),
        headers={**s.finance("finance:d"), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["paid_fen"] == 30_000
    assert await _owed(s, bid) == 0
    assert (
        await s.fetchval("SELECT status FROM claim WHERE id = $1", uuid.UUID(claim["id"])) == "paid"
    )


async def test_a_benefit_issued_ahead_is_paid_with_the_month_it_is_for(settle):
    """Next month's benefit, issued (and posted) this month, is owed in next month's batch:
    this month's payable list and batch leave it alone, next month's take it."""
    s = settle
    this_month = s.period
    year, month = map(int, this_month.split("-"))
    next_month = f"{year + month // 12}-{month % 12 + 1:02d}"
    now_ids = await _benefits(s, [40_000], [True])
    s.period = next_month  # the events name next month; they are posted now
    try:
        ahead_ids = await _benefits(s, [41_000], [True])
    finally:
        s.period = this_month
    posted = await s.fetchval(
        "SELECT DISTINCT period FROM entry e WHERE kind = 'cash_benefit' AND beneficiary_id = $1",
        ahead_ids[0],
    )
    assert posted == this_month  # booked when issued ...

    async def listed(period: str) -> dict[str, str]:
        r = await s.lc.get(
            "/v1/cash-benefits/payable",
            headers=s.finance(),
            params={"period": period, "region_code": CITY},
        )
        assert r.status_code == 200, r.text
        return {b["beneficiary_id"]: b["period"] for b in r.json()["payable"]}

    now_listed, ahead_listed = await listed(this_month), await listed(next_month)
    assert now_ids[0] in now_listed and ahead_ids[0] not in now_listed  # ... paid when due
    assert ahead_listed == {ahead_ids[0]: next_month}
    r = await s.lc.post(
        "/v1/payment-batches", headers=s.finance("finance:c"), json=_body(s, "cash-ahead-0001")
    )
    assert r.status_code == 201, r.text
    assert ahead_ids[0] not in {ln["beneficiary_id"] for ln in r.json()["lines"]}
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json=_body(s, "cash-ahead-0002", cash_benefit_period=next_month),
    )
    assert r.status_code == 201, r.text
    assert [ln["beneficiary_id"] for ln in r.json()["lines"]] == ahead_ids
