"""Each accounting event through the real service: what it posts, budgets, the trial
balance, statements and the audit filters."""

import uuid

from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, event, redemption, void


async def _accounts(ledger):
    conn = await ledger.owner()
    try:
        rows = await conn.fetch(
            "SELECT code, funding_source, provider_id, region_code, "
            "balance_fen FROM account ORDER BY code, funding_source"
        )
    finally:
        await conn.close()
    return {(r["code"], r["funding_source"], r["provider_id"]): r["balance_fen"] for r in rows}


async def test_full_cycle_posts_what_docs_say(ledger):
    r = await ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert r.status_code == 201 and r.json()["available_fen"] == 1_000_000
    r = await ledger.commit(100_000)
    assert r.status_code == 201, r.text
    assert r.json()["budget_region_code"] == CITY  # the district has no budget of its own
    assert (await ledger.budget())["by_source"] == {"central": 855_000, "regional": 45_000}

    red = redemption(1001, provider="prov-9")
    res = await ledger.events([red])
    assert res[0]["status"] == "applied"
    bal = await _accounts(ledger)
    # 1001 fen split 95/5: 950.95 -> 951 / 50.05 -> 50 (largest remainder)
    assert bal[("2201", "central", "prov-9")] == -951
    assert bal[("2201", "regional", "prov-9")] == -50
    assert bal[("2101", None, None)] == -100_000 + 1001
    assert bal[("5001", "central", None)] == 951
    assert bal[("3002", "regional", None)] == -50

    res = await ledger.events([void(red)])
    assert res[0]["status"] == "applied"
    bal = await _accounts(ledger)
    assert bal[("2201", "central", "prov-9")] == 0 and bal[("2101", None, None)] == -100_000

    res = await ledger.events(
        [event("voucher.expired", voucher_id="v-1", beneficiary_id="b-1", released_fen=40_000)]
    )
    assert res[0]["status"] == "applied"
    assert (await ledger.budget())["available_fen"] == 940_000

    tb = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()
    assert tb["balanced"] and tb["total_debit_fen"] == tb["total_credit_fen"] > 0
    assert sum(a["balance_fen"] for a in tb["accounts"]) == 0
    assert (await ledger.verify())["ok"]


async def test_cash_benefit_commits_then_pays_the_beneficiary(ledger):
    await ledger.appropriate({"central": 1_000_000}, program=PROGRAM)
    r = await ledger.commit(40_000, purpose="cash_benefit", shares={"central": 10_000})
    assert r.status_code == 201
    res = await ledger.events(
        [
            event(
                "cash_benefit.issued",
                benefit_id="cb-1",
                beneficiary_id="b-7",
                amount_fen=20_000,
                funding_shares={"central": 10_000},
            )
        ]
    )
    assert res[0]["status"] == "applied", res
    bal = await _accounts(ledger)
    assert bal[("2102", None, None)] == -20_000
    conn = await ledger.owner()
    assert (
        await conn.fetchval(
            "SELECT balance_fen FROM account WHERE code = '2202' AND beneficiary_id = 'b-7'"
        )
        == -20_000
    )
    await conn.close()


async def test_commitment_beyond_budget_is_refused_and_posts_nothing(ledger):
    await ledger.appropriate({"central": 9_500, "regional": 500})
    before = await ledger.snapshot()
    r = await ledger.commit(10_001)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "BUDGET_EXCEEDED" and err["details"]["available_fen"] == 10_000
    after = await ledger.snapshot()
    assert after["entries"] == before["entries"] and after["balances"] == before["balances"]
    assert (await ledger.commit(10_000)).status_code == 201
    assert (await ledger.budget())["available_fen"] == 0


async def test_no_budget_anywhere_up_the_tree(ledger):
    r = await ledger.commit(100, region="450200")
    assert r.status_code == 409 and r.json()["error"]["code"] == "NO_BUDGET"


async def test_point_in_time_trial_balance_and_statement(ledger):
    await ledger.appropriate({"central": 1_000})
    t1 = await ledger.fetchval("SELECT clock_timestamp()")
    await ledger.appropriate({"central": 500})
    tb_then = (
        await ledger.c.get(
            "/v1/trial-balance", headers=ledger.auditor, params={"as_of": t1.isoformat()}
        )
    ).json()
    tb_now = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()

    def cash(tb):
        return next(a for a in tb["accounts"] if a["code"] == "1001")

    assert cash(tb_then)["balance_fen"] == 1_000 and cash(tb_now)["balance_fen"] == 1_500
    account_id = cash(tb_now)["account_id"]
    st = (
        await ledger.c.get(
            f"/v1/accounts/{account_id}/statement",
            headers=ledger.finance,
            params={"from": t1.isoformat()},
        )
    ).json()
    assert st["opening_balance_fen"] == 1_000 and st["closing_balance_fen"] == 1_500
    assert [line["balance_fen"] for line in st["lines"]] == [1_500]


async def test_entries_filters_and_keyset_pages(ledger):
    await ledger.appropriate({"central": 9_500_000, "regional": 500_000})
    await ledger.commit(5_000_000)
    reds = [
        redemption(100 + i, provider="prov-a" if i % 2 else "prov-b", voucher=f"v-{i}")
        for i in range(7)
    ]
    await ledger.events(reds)
    seen, cursor = [], None
    while True:
        params = {"provider_id": "prov-a", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await ledger.c.get("/v1/entries", headers=ledger.auditor, params=params)).json()
        seen += page["entries"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 3 and all(e["provider_id"] == "prov-a" for e in seen)
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
    assert all(sum(p["amount_fen"] for p in e["postings"]) == 0 for e in seen)
    one = (
        await ledger.c.get("/v1/entries", headers=ledger.finance, params={"voucher_id": "v-3"})
    ).json()["entries"]
    assert len(one) == 1 and one[0]["ref"] == reds[3]["payload"]["redemption_id"]
    # account + a dimension its postings can never carry: refused, not answered empty
    cash_id = await ledger.fetchval("SELECT id FROM account WHERE code = '1001' LIMIT 1")
    r = await ledger.c.get(
        "/v1/entries", headers=ledger.auditor, params={"account": cash_id, "provider_id": "prov-a"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "FILTER_NOT_SUPPORTED"
    r = await ledger.c.get(
        "/v1/entries",
        headers=ledger.auditor,
        params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "from"
    by_acct = (
        await ledger.c.get("/v1/entries", headers=ledger.auditor, params={"account": cash_id})
    ).json()["entries"]
    assert [e["kind"] for e in by_acct] == ["appropriation"]


async def test_reversal_once_only_and_never_overdrawing_budget(ledger):
    r1 = (await ledger.appropriate({"central": 1_000})).json()
    r2 = (await ledger.appropriate({"central": 1_000})).json()
    await ledger.commit(1_500, shares={"central": 10_000})
    url = f"/v1/entries/{r1['entry_id']}/reverse"
    body = {"idempotency_key": "rev-1", "reason": "wrong amount"}
    # reversing 1000 would leave -500 available: refused by the budget rule
    r = await ledger.c.post(url, headers=ledger.checker, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "BUDGET_EXCEEDED"
    await ledger.appropriate({"central": 5_000})
    r = await ledger.c.post(
        f"/v1/entries/{r2['entry_id']}/reverse",
        headers=ledger.checker,
        json={"idempotency_key": "rev-2", "reason": "duplicate"},
    )
    assert r.status_code == 201, r.text
    r = await ledger.c.post(
        f"/v1/entries/{r2['entry_id']}/reverse",
        headers=ledger.checker,
        json={"idempotency_key": "rev-3", "reason": "again"},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "ALREADY_REVERSED"
    r = await ledger.c.post(
        f"/v1/entries/{uuid.uuid4()}/reverse",
        headers=ledger.checker,
        json={"idempotency_key": "rev-4", "reason": "x"},
    )
    assert r.status_code == 404
    assert (await ledger.budget())["available_fen"] == 1_000 + 1_000 + 5_000 - 1_500 - 1_000


async def test_region_trial_balance_balances_on_its_own(ledger):
    await ledger.appropriate({"central": 10_000}, region=CITY)
    await ledger.appropriate({"central": 7_000}, region="450200")
    city = await ledger.c.get(
        "/v1/trial-balance", headers=ledger.finance, params={"region_code": CITY}
    )
    body = city.json()
    assert body["balanced"] and body["total_debit_fen"] == 10_000
    assert {a["region_code"] for a in body["accounts"]} == {CITY}
    assert DISTRICT.startswith(CITY[:4])


async def test_entries_by_period_program_and_region(ledger):
    await ledger.appropriate({"central": 1_000}, region=CITY)
    await ledger.appropriate({"central": 2_000}, region="450200", program="meal_assistance")
    period = await ledger.fetchval("SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")

    def got(r):
        return [e["region_code"] for e in r.json()["entries"]]

    r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params={"period": period})
    assert sorted(got(r)) == [CITY, "450200"]
    r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params={"period": "2001-01"})
    assert got(r) == []  # answerable, and truly empty
    r = await ledger.c.get(
        "/v1/entries", headers=ledger.auditor, params={"program_code": "meal_assistance"}
    )
    assert got(r) == ["450200"]
    r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params={"region_code": CITY})
    assert got(r) == [CITY]
    meal_cash = await ledger.fetchval(
        "SELECT id FROM account WHERE program_code = 'meal_assistance' LIMIT 1"
    )
    r = await ledger.c.get(
        "/v1/entries",
        headers=ledger.auditor,
        params={"account": meal_cash, "program_code": PROGRAM},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "program_code"
    r = await ledger.c.get(
        "/v1/entries", headers=ledger.auditor, params={"account": meal_cash, "region_code": CITY}
    )
    # the account lies outside the region asked for: refused, never answered empty
    assert r.status_code == 422 and r.json()["error"]["code"] == "FILTER_NOT_SUPPORTED"
