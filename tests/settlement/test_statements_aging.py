"""Provider statements match the ledger; aging buckets approved-but-unpaid claims."""

from __future__ import annotations

from services.common.auth import Role
from tests.settlement.test_batches import _approved_claim, _confirmation, _import


async def test_statement_matches_the_ledger(paying):
    s = paying
    pid, term = await s.provider()
    claim = await _approved_claim(s, pid, term, (10_000, 8_000))  # 5000 + 4000 owed
    extra = await s.redeem(term, 2_000)
    assert (await s.void(term, extra)).status_code == 200
    await s.deliver()
    batch = (
        await s.lc.post(
            "/v1/payment-batches",
            headers=s.finance("finance:c"),
            json={"region_code": "450100", "idempotency_key": "batch-stmt-0001"},
        )
    ).json()
    assert (await _import(s, batch["id"], _confirmation(batch, {}))).status_code == 200
    await s.redeem(term, 6_000)  # 3000 owed, not yet claimed
    await s.deliver()
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement", headers=s.admin(pid), params={"period": s.period}
    )
    assert r.status_code == 200, r.text
    st = r.json()
    assert (st["opening_fen"], st["redemptions_fen"], st["voids_fen"], st["payments_fen"]) == (
        0,
        5_000 + 4_000 + 1_000 + 3_000,
        1_000,
        claim["total_fen"],
    )
    assert (
        st["closing_fen"]
        == (
            st["opening_fen"]
            + st["redemptions_fen"]
            - st["voids_fen"]
            - st["payments_fen"]
            + st["other_fen"]
        )
        == 3_000
    )
    balance = await s.fetchval(
        "SELECT -sum(balance_fen) FROM account WHERE code = '2201' AND provider_id = $1", pid
    )
    assert st["closing_fen"] == balance
    # finance of the region reads it too; another provider and another region may not
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement", headers=s.finance(), params={"period": s.period}
    )
    assert r.status_code == 200 and r.json() == st
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement", headers=s.admin("other"), params={"period": s.period}
    )
    assert r.status_code == 403
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement",
        headers=s.finance(region="450200"),
        params={"period": s.period},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement",
        headers=s.tokens.headers(Role.civil_affairs, region="450000"),
        params={"period": s.period},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement", headers=s.admin(pid), params={"period": "2026-1"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "period"
    # the next period opens with this closing
    y, m = map(int, s.period.split("-"))
    nxt = f"{y + m // 12}-{m % 12 + 1:02d}"
    r = await s.lc.get(
        f"/v1/providers/{pid}/statement", headers=s.admin(pid), params={"period": nxt}
    )
    assert r.json()["opening_fen"] == r.json()["closing_fen"] == 3_000


async def test_aging_buckets_approved_unpaid_claims_by_days_waited(settle):
    s = settle
    (pa, ta), (pb, tb) = await s.provider(), await s.provider()
    fresh = await _approved_claim(s, pa, ta, (10_000,))
    old = await _approved_claim(s, pb, tb, (6_000,))
    older = await _approved_claim(s, pb, tb, (4_000,))
    conn = await s.owner()
    try:  # as if approved long ago
        await conn.execute(
            "UPDATE claim SET approved_at = clock_timestamp() - interval "
            "'45 days' WHERE id = $1::uuid",
            old["id"],
        )
        await conn.execute(
            "UPDATE claim SET approved_at = clock_timestamp() - interval "
            "'120 days' WHERE id = $1::uuid",
            older["id"],
        )
    finally:
        await conn.close()
    r = await s.lc.get("/v1/aging", headers=s.tokens.headers(Role.auditor, region="450100"))
    assert r.status_code == 200, r.text
    body = r.json()
    by = {p["provider_id"]: p for p in body["providers"]}
    assert by[pa]["0_30_fen"] == fresh["total_fen"] == 5_000
    assert (by[pb]["31_60_fen"], by[pb]["over_90_fen"], by[pb]["oldest_days"]) == (
        3_000,
        2_000,
        120,
    )
    assert body["providers"][0]["provider_id"] == pb  # the longest wait first
    assert body["totals"] == {
        "0_30_fen": 5_000,
        "31_60_fen": 3_000,
        "61_90_fen": 0,
        "over_90_fen": 2_000,
    }
    r = await s.lc.get("/v1/aging", headers=s.finance(region="450200"))
    assert r.status_code == 200 and r.json()["providers"] == []
    r = await s.lc.get("/v1/aging", headers=s.admin(pa))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
