"""A redemption writes three postings (vouchers outstanding, provider payable per funding
source); the expense it earns is recognised by one `expense_recognition` entry per program and
budget region of the batch, in the same transaction, and a void or a recovery takes back its
share. Entries posted before (with their own expense pair) are voided as their exact mirror."""

from __future__ import annotations

import json
from typing import Any

from services.ledger.repository import posting
from services.ledger.service import plans
from tests.ledger.conftest import CITY, PROGRAM, SHARES, event, redemption, void


async def _entries(ledger) -> list[dict[str, Any]]:
    """Every entry with its postings as {(code, funding source): amount}, in chain order."""
    conn = await ledger.owner()
    try:
        rows = await conn.fetch(
            "SELECT e.id, e.seq, e.kind, e.ref, e.txid, e.details, e.reverses_entry_id, "
            "json_agg(json_build_array(a.code, a.funding_source, p.amount_fen) "
            "ORDER BY p.line) AS lines "
            "FROM entry e JOIN posting p ON p.entry_id = e.id "
            "JOIN account a ON a.id = p.account_id GROUP BY e.id ORDER BY e.book, e.seq"
        )
    finally:
        await conn.close()
    out = []
    for r in rows:
        lines = json.loads(r["lines"])
        out.append(
            {**dict(r), "lines": lines, "details": r["details"] and json.loads(r["details"])}
        )
    return out


def _by(entry: dict[str, Any], code: str) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for c, source, amount in entry["lines"]:
        if c == code:
            out[source] = out.get(source, 0) + amount
    return out


async def _balance(ledger, code: str) -> int:
    return int(
        await ledger.fetchval(
            "SELECT coalesce(sum(amount_fen), 0) FROM posting p JOIN account a "
            "ON a.id = p.account_id WHERE a.code = $1",
            code,
        )
    )


async def test_a_batch_of_redemptions_writes_three_postings_each_and_one_expense_entry(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert (await ledger.commit(100_000)).status_code == 201
    reds = [redemption(1000 + i, provider=f"prov-{i % 2}") for i in range(5)]
    too_much = redemption(999_999)  # refused: more than vouchers outstanding
    results = await ledger.events([*reds, too_much])
    assert [r["status"] for r in results] == ["applied"] * 5 + ["rejected"]

    entries = await _entries(ledger)
    posted = [e for e in entries if e["kind"] == "redemption"]
    (expense,) = [e for e in entries if e["kind"] == plans.EXPENSE_RECOGNITION]
    assert len(posted) == 5
    assert all(len(e["lines"]) == 1 + len(SHARES) for e in posted)  # 2101 + 2201 per source
    assert all(not _by(e, "5001") and not _by(e, "3002") for e in posted)
    # the expense entry: 5001 Dr / 3002 Cr per source, the sum of what the providers earned
    earned: dict[str | None, int] = {}
    for e in posted:
        for source, amount in _by(e, "2201").items():
            earned[source] = earned.get(source, 0) - amount
    assert sum(earned.values()) == sum(1000 + i for i in range(5))
    assert _by(expense, "5001") == earned
    assert _by(expense, "3002") == {s: -a for s, a in earned.items()}
    assert expense["details"] == {"redemptions": 5}
    # written with them, after them in the chain: one transaction (txid), one book
    assert {e["txid"] for e in posted} == {expense["txid"]}
    assert expense["seq"] == max(e["seq"] for e in posted) + 1
    assert await _balance(ledger, "5001") == sum(earned.values())
    assert (await ledger.verify())["ok"]

    # a batch of nothing but a void recognises nothing
    await ledger.events([void(reds[0])])
    after = await _entries(ledger)
    assert [e["kind"] for e in after].count(plans.EXPENSE_RECOGNITION) == 1


async def test_a_void_takes_back_its_share_of_the_expense(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(100_000)
    kept, voided, same_batch = redemption(700), redemption(1001), redemption(333)
    await ledger.events([kept, voided])
    # a redemption and its void in one batch: recognised, then taken back
    results = await ledger.events([void(voided), same_batch, void(same_batch)])
    assert {r["status"] for r in results} == {"applied"}

    entries = await _entries(ledger)
    first = next(e for e in entries if e["ref"] == voided["payload"]["redemption_id"])
    (v,) = [e for e in entries if e["reverses_entry_id"] == first["id"]]
    # the mirror of the redemption's three postings, then 5001 Cr / 3002 Dr per source
    assert v["lines"][:3] == [[c, s, -a] for c, s, a in first["lines"]]
    earned = {s: -a for s, a in _by(first, "2201").items()}
    assert _by(v, "5001") == {s: -a for s, a in earned.items()} and _by(v, "3002") == earned
    assert earned == {"central": 951, "regional": 50}
    # only the kept redemption's expense stands, to the fen
    assert await _balance(ledger, "5001") == 700
    assert await _balance(ledger, "3002") == -700
    assert await _balance(ledger, "2201") == -700
    tb = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()
    assert tb["balanced"]
    assert (await ledger.verify())["ok"]


async def test_a_redemption_posted_with_its_own_expense_pair_is_voided_as_its_mirror(ledger):
    """Entries written before expense recognition moved to its own entry (before 5 Dec
    2026) carry 5001 / 3002 themselves: their void mirrors them, and takes nothing more."""
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(100_000)
    old = redemption(1001)
    p = old["payload"]
    plan = plans.redemption(
        program_code=PROGRAM,
        budget_region_code=CITY,
        provider_id=p["provider_id"],
        subsidy_fen=p["subsidy_fen"],
        shares_bp=SHARES,
        beneficiary_id=p["beneficiary_id"],
        voucher_id=p["voucher_id"],
        ref=p["redemption_id"],
        created_by="voucher-service",
        idempotency_key=f"event:{old['event_id']}",
    )
    plan.postings += plans.implied_expense(plan)  # the old shape: seven postings
    conn = await ledger.owner()
    try:
        async with conn.transaction():
            heads = await posting.lock_heads(conn, posting.books_of([plan]))
            accounts = await posting.resolve_accounts(conn, [x.account for x in plan.postings])
            await posting.write_entries(conn, heads, [plan], accounts)
    finally:
        await conn.close()
    assert await _balance(ledger, "5001") == 1001

    results = await ledger.events([void(old)])
    assert results[0]["status"] == "applied", results
    entries = await _entries(ledger)
    first = next(e for e in entries if e["ref"] == p["redemption_id"] and e["kind"] == "redemption")
    (v,) = [e for e in entries if e["reverses_entry_id"] == first["id"]]
    assert len(first["lines"]) == 7
    assert v["lines"] == [[c, s, -a] for c, s, a in first["lines"]]
    assert await _balance(ledger, "5001") == 0 and await _balance(ledger, "3002") == 0
    assert (await ledger.verify())["ok"]


async def test_a_recovery_takes_back_the_recognised_expense(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(100_000)
    red = redemption(2000)
    await ledger.events([red])
    p = red["payload"]
    results = await ledger.events(
        [
            event(
                "redemption.recovered",
                recovery_id="rec-1",
                redemption_id=p["redemption_id"],
                voucher_id=p["voucher_id"],
                beneficiary_id=p["beneficiary_id"],
                provider_id=p["provider_id"],
                subsidy_fen=2000,
                mode="payable",
                destination="budget",
                reason="no such meal",
            )
        ]
    )
    assert results[0]["status"] == "applied", results
    assert await _balance(ledger, "5001") == 0 and await _balance(ledger, "3002") == 0
    assert await _balance(ledger, "2201") == 0
    assert (await ledger.verify())["ok"]


async def test_a_batch_of_refused_redemptions_recognises_nothing(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(1_000)
    before = await ledger.snapshot()
    bad_amounts = redemption(500)
    bad_amounts["payload"]["gross_fen"] = 1  # gross must be subsidy + co-payment
    results = await ledger.events([redemption(999_999), bad_amounts])
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    after = await ledger.snapshot()
    assert after["entries"] == before["entries"]  # no redemption, no expense entry
    assert after["postings"] == before["postings"]
    # every balance as it was (the accounts a batch names are opened, empty, before its
    # events are decided)
    assert after["balances"][: len(before["balances"])] == before["balances"]
    assert all(balance == 0 for _, balance in after["balances"][len(before["balances"]) :])
