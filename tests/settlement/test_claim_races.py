"""Races where money is at stake, with real concurrent requests over separate connections:
a void racing a claim, two claims of the same provider, two finance officers approving."""

from __future__ import annotations

import asyncio


async def test_void_racing_a_claim_never_leaves_a_voided_redemption_in_a_claim(settle):
    """The voucher service is authoritative: whichever of void and claim locks the
    redemption first wins there, and the ledger's claim follows it."""
    s = settle
    outcomes = set()
    for _ in range(4):
        pid, term = await s.provider()
        safe, raced = await s.redeem(term), await s.redeem(term)
        await s.deliver()
        voided, claimed = await asyncio.gather(s.void(term, raced), s.claim(pid))
        assert claimed.status_code == 201, claimed.text
        lines = {x["redemption_id"] for x in claimed.json()["redemptions"]}
        assert safe in lines
        if voided.status_code == 200:
            outcomes.add("void won")
            assert raced not in lines and claimed.json()["total_fen"] == 5_000
        else:
            outcomes.add("claim won")
            assert voided.json()["error"]["code"] == "REDEMPTION_CLAIMED"
            assert raced in lines and claimed.json()["total_fen"] == 10_000
        row = await s.w.conn.fetchrow(
            "SELECT status, claim_id FROM redemption WHERE id = $1::uuid", raced
        )
        assert (row["status"] == "voided") == (row["claim_id"] is None)
        await s.deliver()  # the void (if any) reaches the ledger afterwards
    # whatever happened, no live claim line is a reversed (voided) redemption entry
    assert (
        await s.fetchval(
            "SELECT count(*) FROM claim_line l WHERE l.active AND EXISTS "
            "(SELECT 1 FROM entry r WHERE r.reverses_entry_id = l.entry_id)"
        )
        == 0
    )
    # and the voucher side agrees with the ledger on which claim holds each redemption
    conn = await s.owner()
    try:
        ledger_side = {
            (r["redemption_id"], str(r["claim_id"]))
            for r in await conn.fetch("SELECT redemption_id, claim_id FROM claim_line WHERE active")
        }
    finally:
        await conn.close()
    voucher_side = {
        (r["id"], r["claim_id"])
        for r in await s.w.conn.fetch(
            "SELECT id::text, claim_id FROM redemption WHERE claim_id IS NOT NULL"
        )
    }
    assert ledger_side == voucher_side
    assert outcomes  # (which side wins each round is up to the scheduler)


async def test_two_claims_of_the_same_period_take_each_redemption_once(settle):
    s = settle
    pid, term = await s.provider()
    for _ in range(3):
        await s.redeem(term)
    await s.deliver()
    answers = await asyncio.gather(*(s.claim(pid) for _ in range(4)))
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 201 and all(c in (201, 422) for c in codes)
    # a request that finds the claim being prepared resumes it rather than making another
    claims = {a.json()["id"]: a.json()["total_fen"] for a in answers if a.status_code == 201}
    assert sum(claims.values()) == 15_000
    assert await s.fetchval("SELECT count(*) FROM claim_line WHERE active") == 3
    assert (
        await s.fetchval("SELECT count(DISTINCT redemption_id) FROM claim_line WHERE active") == 3
    )


async def test_two_finance_officers_racing_to_approve_one_wins(settle):
    s = settle
    pid, term = await s.provider()
    await s.redeem(term)
    await s.deliver()
    claim = (await s.claim(pid)).json()
    url = f"/v1/claims/{claim['id']}/approve"
    answers = await asyncio.gather(
        *(s.lc.post(url, headers=s.finance(f"finance:{i}"), json={}) for i in range(4))
    )
    ok = [a for a in answers if a.status_code == 200]
    assert len(ok) == 1, [a.text for a in answers]
    assert all(
        a.json()["error"]["code"] == "CLAIM_STATUS_CONFLICT"
        for a in answers
        if a.status_code != 200
    )
    assert await s.fetchval("SELECT count(*) FROM claim_action WHERE action = 'approve'") == 1
