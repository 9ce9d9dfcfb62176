"""Reconciliation: empty when all agree; each planted discrepancy is reported with its
record, side and amount; CSV and XLSX exports; access."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from services.common.auth import Role
from services.ledger.repository import posting
from services.ledger.service import books, plans
from tests.settlement.test_batches import _approved_claim

REGION = "450100"


async def _rogue_reversal(s, redemption_id: str) -> str:
    """A reversal of a redemption's entry written straight into the journal by someone with
    the database owner's rights (the chain and balance rules still hold)."""
    conn = await s.owner()
    try:
        async with conn.transaction():
            head = await posting.lock_heads(conn, [books.book_of(REGION)])
            (original,) = await posting.redemption_entries(conn, [redemption_id])
            plan = plans.reversal(
                original,
                kind="reversal",
                created_by="finance:rogue",
                idempotency_key="stray-reversal-1",
                memo="oops",
            )
            accounts = await posting.resolve_accounts(conn, [p.account for p in plan.postings])
            (written,) = await posting.write_entries(conn, head, [plan], accounts)
    finally:
        await conn.close()
    return str(written.entry_id)


async def _report(s, fmt: str | None = None, headers=None):
    params = {"period": s.period, "region_code": REGION}
    if fmt:
        params["format"] = fmt
    return await s.lc.get(
        "/v1/reconciliation",
        params=params,
        headers=headers or s.tokens.headers(Role.auditor, region="450000"),
    )


async def _balance_vouchers_with_the_ledger(s) -> None:
    """The fixture committed a round budget to vouchers outstanding; one more voucher holds
    the rest of it, as issuance would have made them."""
    outstanding = await s.fetchval("SELECT -sum(balance_fen) FROM account WHERE code = '2101'")
    vouchers = await s.w.conn.fetchval("SELECT sum(balance_fen) FROM voucher")
    rest = await s.w.add_beneficiary()
    await s.w.add_voucher(rest, face_fen=outstanding - vouchers, period=s.period)


async def test_everything_agrees_then_each_planted_discrepancy_is_reported(settle):
    s = settle
    pid, term = await s.provider()
    claimed = await _approved_claim(s, pid, term, (10_000, 6_000))
    ok_void = await s.redeem(term, 2_000)
    assert (await s.void(term, ok_void)).status_code == 200
    victims = [await s.redeem(term, g) for g in (4_000, 8_000, 12_000, 14_000)]
    await s.deliver()
    await _balance_vouchers_with_the_ledger(s)
    r = await _report(s)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["discrepancies"] == []
    assert r.json()["redemptions_checked"] == 7

    never_posted = await s.redeem(term, 2_222)  # its event will be lost
    await s.w.conn.execute("DELETE FROM outbox WHERE payload->>'redemption_id' = $1", never_posted)
    to_reverse, void_lost, vanished, _ = victims
    # a void whose event is lost
    assert (await s.void(term, void_lost)).status_code == 200
    await s.w.conn.execute(
        "DELETE FROM outbox WHERE type = 'redemption.voided' AND payload->>'redemption_id' = $1",
        void_lost,
    )
    await s.deliver()
    # a stray entry: finance reverses a redemption the voucher side still holds live
    entry_id = await s.fetchval(
        "SELECT id::text FROM entry WHERE kind = 'redemption' AND ref = $1", to_reverse
    )
    r = await s.lc.post(
        f"/v1/entries/{entry_id}/reverse",
        headers=s.finance(region="450000"),
        json={"idempotency_key": "stray-reversal-1", "reason": "oops"},
    )
    # the ledger refuses it (issue 21), so a writer bypassing the service makes it
    assert r.status_code == 422 and r.json()["error"]["code"] == "ENTRY_NOT_REVERSIBLE"
    stray_id = await _rogue_reversal(s, to_reverse)
    # superuser edits on the voucher side: a balance altered, a redemption row gone, a
    # claim mark changed
    await s.w.conn.execute("SET session_replication_role = replica")
    some_voucher = await s.w.conn.fetchval(
        "SELECT id FROM voucher WHERE balance_fen > 100 ORDER BY id LIMIT 1"
    )
    await s.w.conn.execute(
        "UPDATE voucher SET balance_fen = balance_fen - 77 WHERE id = $1", some_voucher
    )
    await s.w.conn.execute("DELETE FROM redemption WHERE id = $1::uuid", vanished)
    a_claimed = claimed["redemptions"][0]["redemption_id"]
    await s.w.conn.execute(
        "UPDATE redemption SET claim_id = 'forged' WHERE id = $1::uuid", a_claimed
    )
    await s.w.conn.execute("SET session_replication_role = origin")
    # a claim marked paid that no payment posted
    conn = await s.owner()
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE claim SET status = 'paid' WHERE id = $1::uuid", claimed["id"])
    finally:
        await conn.close()

    r = await _report(s)
    body = r.json()
    assert body["ok"] is False
    found = {(d["kind"], d["record"], d["side"], d["amount_fen"]) for d in body["discrepancies"]}
    expected = {
        ("MISSING_IN_LEDGER", f"redemption:{never_posted}", "ledger", 1_111),
        ("VOID_NOT_POSTED", f"redemption:{void_lost}", "ledger", 4_000),
        ("REVERSED_IN_LEDGER", f"redemption:{to_reverse}", "ledger", 2_000),
        ("UNEXPLAINED_PAYABLE", f"entry:{stray_id}", "ledger", -2_000),
        ("MISSING_IN_VOUCHER", f"redemption:{vanished}", "voucher", 6_000),
        (
            "CLAIM_MISMATCH",
            f"redemption:{a_claimed}",
            "settlement",
            claimed["redemptions"][0]["amount_fen"],
        ),
        ("PAYMENT_MISMATCH", f"claim:{claimed['id']}", "settlement", -claimed["total_fen"]),
    }
    assert expected <= found, found - expected
    outstanding = [d for d in body["discrepancies"] if d["kind"] == "OUTSTANDING_MISMATCH"]
    assert len(outstanding) == 1
    assert outstanding[0]["record"] == "account:2101:disability_subsidy:450100"
    # ledger minus voucher side: the voucher issued for never_posted's person (50,000) and
    # its redemption (1,111) never reached the ledger, the lost void gave 4,000 back on the
    # voucher side only, the superuser took 77 off a voucher, the stray reversal put 2,000
    # back in the ledger only
    assert outstanding[0]["amount_fen"] == -50_000 + 1_111 - 4_000 + 77 + 2_000

    r = await _report(s, "csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert {(x["kind"], x["record"]) for x in rows} == {
        (d["kind"], d["record"]) for d in body["discrepancies"]
    }
    r = await _report(s, "xlsx")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == ("kind", "record", "side", "amount_fen", "detail")
    assert len(values) == len(body["discrepancies"]) + 1


async def test_reconciliation_access_and_bad_input(settle):
    s = settle
    r = await _report(s, headers=s.admin("p1"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await _report(s, headers=s.finance(region="450200"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await _report(s, headers=s.finance())
    assert r.status_code == 200
    for params, field in (
        ({"period": "2026-00", "region_code": REGION}, "period"),
        ({"period": s.period, "region_code": "45"}, "region_code"),
        ({"period": s.period, "region_code": REGION, "format": "pdf"}, "format"),
    ):
        r = await s.lc.get("/v1/reconciliation", params=params, headers=s.finance())
        assert r.status_code == 422 and r.json()["error"]["field"] == field
    # the voucher side's feed is for services only
    r = await s.w.client.get(
        "/v1/internal/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": REGION},
    )
    assert r.status_code == 403
