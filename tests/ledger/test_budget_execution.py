"""The budget's execution (`GET /v1/budget/execution`, `GET /v1/budget`) is read from the
summary `budget_execution` kept at each appropriation's, commitment's, expiry's and
reversal's COMMIT, and the accounts' balances: after appropriations (one reversed),
commitments racing on real connections, a refused commitment, a redemption, a void and an
expiry, every figure equals the postings summed directly, and the summary's rows equal the
postings grouped by account and kind."""

from __future__ import annotations

import asyncio

from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, event, redemption, void

DIRECT = """
SELECT a.program_code, a.funding_source,
       -coalesce(sum(p.amount_fen) FILTER (WHERE e.kind IN ('appropriation', 'reversal')), 0)
         AS appropriated,
       coalesce(sum(p.amount_fen) FILTER (WHERE e.kind = 'commitment'), 0) AS committed,
       -coalesce(sum(p.amount_fen) FILTER (WHERE e.kind = 'expiry'), 0) AS released
  FROM posting p JOIN entry e ON e.id = p.entry_id JOIN account a ON a.id = p.account_id
 WHERE a.code = '3001' AND a.region_code LIKE $1
 GROUP BY 1, 2 ORDER BY 1, 2"""


async def _direct(ledger, like: str) -> list[dict]:
    conn = await ledger.owner()
    try:
        rows = await conn.fetch(DIRECT, like)
        balances = {
            (r["program_code"], r["funding_source"], r["code"]): r["b"]
            for r in await conn.fetch(
                "SELECT program_code, funding_source, code, -sum(balance_fen) AS b FROM account"
                " WHERE code IN ('3001', '3002') AND region_code LIKE $1 GROUP BY 1, 2, 3",
                like,
            )
        }
    finally:
        await conn.close()
    return [
        {
            "program_code": r["program_code"],
            "funding_source": r["funding_source"],
            "appropriated_fen": r["appropriated"],
            "committed_fen": r["committed"],
            "spent_fen": balances.get((r["program_code"], r["funding_source"], "3002"), 0),
            "released_fen": r["released"],
            "available_fen": balances[(r["program_code"], r["funding_source"], "3001")],
        }
        for r in rows
    ]


async def _summary_equals_postings(ledger) -> None:
    conn = await ledger.owner()
    try:
        stored = await conn.fetch(
            "SELECT account_id, kind, amount_fen FROM budget_execution ORDER BY 1, 2"
        )
        direct = await conn.fetch(
            """SELECT p.account_id, e.kind, sum(p.amount_fen) AS amount_fen
                 FROM posting p JOIN entry e ON e.id = p.entry_id
                 JOIN account a ON a.id = p.account_id
                WHERE a.code = '3001'
                  AND e.kind IN ('appropriation', 'commitment', 'expiry', 'reversal')
                GROUP BY 1, 2 ORDER BY 1, 2"""
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in stored] == [tuple(r) for r in direct]


async def _read(ledger, region: str) -> list[dict]:
    r = await ledger.c.get(
        "/v1/budget/execution", headers=ledger.finance, params={"region_code": region}
    )
    assert r.status_code == 200, r.text
    return r.json()["lines"]


async def test_budget_execution_equals_the_postings(ledger):
    assert (await ledger.appropriate({"central": 950_000, "regional": 50_000})).status_code == 201
    assert (await ledger.appropriate({"central": 200_000})).status_code == 201
    assert (await ledger.appropriate({"central": 70_000}, region="450200")).status_code == 201
    # an appropriation made in error (the wrong amount) and reversed by a second officer
    wrong = await ledger.appropriate({"central": 5_000_000, "regional": 300})
    assert wrong.status_code == 201, wrong.text
    r = await ledger.c.post(
        f"/v1/entries/{wrong.json()['entry_id']}/reverse",
        headers=ledger.checker,
        json={"idempotency_key": "undo-wrong", "reason": "金额录错"},
    )
    assert r.status_code == 201, r.text
    # eight commitments racing on the app's pool (real connections)
    answers = await asyncio.gather(*(ledger.commit(10_000 + i) for i in range(8)))
    assert [r.status_code for r in answers] == [201] * 8
    # a refused commitment (more than the budget) leaves nothing behind
    r = await ledger.commit(50_000_000)
    assert r.status_code >= 400 and r.status_code < 500, r.text
    red = redemption(3_000)
    assert [x["status"] for x in await ledger.events([red, redemption(1_200)])] == ["applied"] * 2
    assert (await ledger.events([void(red)]))[0]["status"] == "applied"
    expired = event("voucher.expired", voucher_id="v-1", beneficiary_id="b-1", released_fen=4_000)
    assert (await ledger.events([expired]))[0]["status"] == "applied"

    await _summary_equals_postings(ledger)
    for region, like in (("450000", "45%"), (CITY, "4501%"), ("450200", "4502%")):
        lines = await _read(ledger, region)
        assert lines == await _direct(ledger, like)
    province = {(x["program_code"], x["funding_source"]): x for x in await _read(ledger, "450000")}
    central = province[(PROGRAM, "central")]
    assert central["appropriated_fen"] == 950_000 + 200_000 + 70_000
    # what was appropriated, less what was committed, plus what was released, is available
    for line in province.values():
        assert (
            line["appropriated_fen"] - line["committed_fen"] + line["released_fen"]
            == line["available_fen"]
        ), line
    assert central["committed_fen"] > 0 and central["released_fen"] > 0
    assert central["spent_fen"] > 0

    # the single-region reading (`GET /v1/budget`) from the same summary
    budget = await ledger.budget(DISTRICT)
    direct = {(x["funding_source"]): x for x in await _direct(ledger, CITY)}
    assert budget["appropriated_fen"] == sum(x["appropriated_fen"] for x in direct.values())
    assert budget["committed_fen"] == sum(x["committed_fen"] for x in direct.values())
    assert budget["released_fen"] == sum(x["released_fen"] for x in direct.values())
    assert budget["spent_fen"] == sum(x["spent_fen"] for x in direct.values())


async def test_the_migration_counts_the_reversals_written_before_it(ledger):
    """ledger_1406 fills the summary with the reversals already in the journal: down to
    ledger_1405 (the summary forgets them, and a reversal made then is not kept), up again,
    and the summary equals the postings, reversals too."""
    from services.common.migrate import downgrade, upgrade

    first = await ledger.appropriate({"central": 80_000})
    assert first.status_code == 201, first.text
    url = ledger.sdb.owner_url
    await asyncio.to_thread(downgrade, "ledger", url, "ledger_1405")
    r = await ledger.c.post(
        f"/v1/entries/{first.json()['entry_id']}/reverse",
        headers=ledger.checker,
        json={"idempotency_key": "undo-before", "reason": "重复下达"},
    )
    assert r.status_code == 201, r.text
    conn = await ledger.owner()
    try:
        kept = await conn.fetchval("SELECT count(*) FROM budget_execution WHERE kind = 'reversal'")
    finally:
        await conn.close()
    assert kept == 0
    await asyncio.to_thread(upgrade, "ledger", url, "head")
    await _summary_equals_postings(ledger)
    budget = await ledger.budget(DISTRICT)
    assert budget["appropriated_fen"] == 0
