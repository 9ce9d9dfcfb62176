"""Claims: claimable preview, claim of a period, refused lines named, maker-checker approval,
rejection with reasons and resubmission; the voucher side marks claimed redemptions."""

from __future__ import annotations

from services.common.auth import Role


async def test_claimable_then_claim_lists_posted_unvoided_redemptions(settle):
    s = settle
    pid, term = await s.provider()
    r1, r2, r3 = (
        await s.redeem(term, 10_000),
        await s.redeem(term, 6_000),
        await s.redeem(term, 4_001),
    )
    assert (await s.void(term, r3)).status_code == 200
    r4 = await s.redeem(term, 2_000)
    await s.deliver()
    await s.redeem(term, 3_000)  # never delivered: not posted, so not claimable
    r = await s.lc.get(
        "/v1/claims/claimable",
        headers=s.admin(pid),
        params={"provider_id": pid, "period": s.period},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert {x["redemption_id"] for x in body["redemptions"]} == {r1, r2, r4}
    assert body["total_fen"] == 5_000 + 3_000 + 1_000

    r = await s.claim(pid, comment="十一月")
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["status"] == "submitted" and claim["total_fen"] == 9_000
    assert {x["redemption_id"] for x in claim["redemptions"]} == {r1, r2, r4}
    assert claim["submitted_by"] == f"padmin:{pid}"
    # marked on the voucher side: these can no longer be voided
    marked = await s.w.conn.fetch(
        "SELECT id::text, claim_id FROM redemption WHERE claimed_at IS NOT NULL"
    )
    assert {m["id"] for m in marked} == {r1, r2, r4}
    assert {m["claim_id"] for m in marked} == {claim["id"]}
    v = await s.void(term, r1)
    assert v.status_code == 409 and v.json()["error"]["code"] == "REDEMPTION_CLAIMED"
    # nothing is left to claim
    r = await s.claim(pid)
    assert r.status_code == 422 and r.json()["error"]["code"] == "NOTHING_TO_CLAIM"


async def test_explicit_lines_refused_and_named_change_nothing(settle):
    s = settle
    pid, term = await s.provider()
    _other_pid, other_term = await s.provider()
    good, voided, claimed = (await s.redeem(term), await s.redeem(term), await s.redeem(term))
    foreign = await s.redeem(other_term)
    assert (await s.void(term, voided)).status_code == 200
    await s.deliver()
    unposted = await s.redeem(term)  # never delivered to the ledger
    assert (await s.claim(pid, redemption_ids=[claimed])).status_code == 201
    before = await s.counts()
    r = await s.claim(pid, redemption_ids=[good, voided, claimed, unposted, foreign])
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "CLAIM_LINES_REFUSED" and err["field"] == "redemption_ids"
    assert {(x["redemption_id"], x["problem"]) for x in err["details"]["lines"]} == {
        (voided, "VOIDED"),
        (claimed, "ALREADY_CLAIMED"),
        (unposted, "NOT_POSTED"),
        (foreign, "NOT_POSTED"),
    }
    assert await s.counts() == before
    assert (
        await s.w.conn.fetchval("SELECT claimed_at FROM redemption WHERE id = $1::uuid", good)
        is None
    )
    r = await s.claim(pid, redemption_ids=[good])
    assert r.status_code == 201 and r.json()["total_fen"] == 5_000


async def test_idempotent_claim_and_key_reuse(settle):
    s = settle
    pid, term = await s.provider()
    await s.redeem(term)
    await s.deliver()
    a = await s.claim(pid, idempotency_key="claim-key-0001")
    b = await s.claim(pid, idempotency_key="claim-key-0001")
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    c = await s.claim(pid, idempotency_key="claim-key-0001", comment="other body")
    assert c.status_code == 409 and c.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await s.fetchval("SELECT count(*) FROM claim") == 1


async def test_maker_checker_approval_rejection_and_resubmission(settle):
    s = settle
    pid, term = await s.provider()
    await s.redeem(term)
    await s.deliver()
    claim = (await s.claim(pid)).json()
    url = f"/v1/claims/{claim['id']}"
    # the provider admin cannot approve (role), nor a finance officer of another region
    r = await s.lc.post(url + "/approve", headers=s.admin(pid), json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await s.lc.post(url + "/approve", headers=s.finance(region="450200"), json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    # a finance officer whose identity is the preparer's is refused (maker-checker)
    r = await s.lc.post(
        url + "/approve",
        headers=s.tokens.headers(Role.finance, sub=f"padmin:{pid}", region="450000"),
        json={},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "MAKER_CHECKER_VIOLATION"
    # reject with reasons -> back to the provider
    r = await s.lc.post(
        url + "/reject",
        headers=s.finance("finance:a"),
        json={"reasons": ["发票缺失", "服务记录不全"], "comment": "请补充"},
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = await s.lc.post(url + "/approve", headers=s.finance("finance:b"), json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CLAIM_STATUS_CONFLICT"
    seen = (await s.lc.get(url, headers=s.admin(pid))).json()
    assert seen["history"][-1]["reasons"] == ["发票缺失", "服务记录不全"]
    # another provider does not see it
    r = await s.lc.get(url, headers=s.admin("someone-else"))
    assert r.status_code == 404
    r = await s.lc.post(url + "/resubmit", headers=s.admin(pid), json={"comment": "已补充"})
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    r = await s.lc.post(
        url + "/approve", headers=s.finance("finance:b"), json={"comment": "核对无误"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["approved_by"] == "finance:b"
    again = await s.lc.post(url + "/approve", headers=s.finance("finance:b"), json={})
    assert again.status_code == 200 and again.json()["status"] == "approved"
    # the database holds maker-checker too
    conn = await s.owner()
    try:
        import asyncpg
        import pytest

        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "UPDATE claim SET approved_by = submitted_by WHERE id = $1::uuid", claim["id"]
            )
    finally:
        await conn.close()


async def test_claim_access_and_bad_input(settle):
    s = settle
    pid, term = await s.provider()
    await s.redeem(term)
    await s.deliver()
    before = await s.counts()
    for headers in (
        s.finance(),
        s.tokens.headers(Role.provider_staff, provider_id=pid),
        s.tokens.headers(Role.auditor, region="450000"),
    ):
        r = await s.claim(pid, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await s.claim(pid, headers=s.admin("other-provider"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await s.lc.get(
        "/v1/claims/claimable",
        headers=s.admin("other-provider"),
        params={"provider_id": pid, "period": s.period},
    )
    assert r.status_code == 403
    r = await s.lc.post("/v1/claims", json={"provider_id": pid, "period": s.period})
    assert r.status_code == 401
    for bad, field in (
        ({"period": "2026-13"}, "period"),
        ({"period": "nov"}, "period"),
        ({"redemption_ids": []}, "redemption_ids"),
        ({"idempotency_key": "x"}, "idempotency_key"),
        ({"surprise": 1}, "surprise"),
    ):
        body = {"provider_id": pid, "period": s.period, **bad}
        r = await s.lc.post("/v1/claims", headers=s.admin(pid), json=body)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == field
    r = await s.lc.post("/v1/claims/not-a-uuid/approve", headers=s.finance(), json={})
    assert r.status_code == 422
    r = await s.lc.post(
        "/v1/claims/00000000-0000-0000-0000-000000000000/approve", headers=s.finance(), json={}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "CLAIM_NOT_FOUND"
    assert await s.counts() == before


async def test_claims_are_listed_within_scope(settle):
    s = settle
    (pa, ta), (pb, tb) = await s.provider(), await s.provider()
    await s.redeem(ta)
    await s.redeem(tb)
    await s.deliver()
    ca, cb = (await s.claim(pa)).json(), (await s.claim(pb)).json()
    r = await s.lc.get("/v1/claims", headers=s.admin(pa))
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [ca["id"]]
    r = await s.lc.get("/v1/claims", headers=s.admin(pa), params={"provider_id": pb})
    assert r.status_code == 403
    r = await s.lc.get("/v1/claims", headers=s.finance(), params={"status": "submitted"})
    assert {c["id"] for c in r.json()["items"]} == {ca["id"], cb["id"]}
    r = await s.lc.get("/v1/claims", headers=s.finance(region="450200"))
    assert r.status_code == 200 and r.json()["items"] == []
    r = await s.lc.get("/v1/claims", headers=s.finance(), params={"status": "lost"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "status"
    r = await s.lc.get("/v1/claims", headers=s.tokens.headers(Role.civil_affairs, region="450000"))
    assert r.status_code == 403


async def test_an_abandoned_claim_lets_its_redemptions_be_claimed_again(settle):
    """A strict claim (explicit lines) that the voucher service refuses as a whole — here
    because one redemption was voided after the ledger last heard — is abandoned. Its good
    redemptions must stay claimable: the next claim takes them."""
    s = settle
    pid, term = await s.provider()
    good, late_void = await s.redeem(term), await s.redeem(term)
    await s.deliver()
    assert (await s.void(term, late_void)).status_code == 200  # not yet in the ledger
    r = await s.claim(pid, redemption_ids=[good, late_void])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "CLAIM_LINES_REFUSED"
    assert await s.fetchval("SELECT count(*) FROM claim WHERE status = 'abandoned'") == 1
    assert await s.fetchval("SELECT count(*) FROM claim_line WHERE active") == 0

    r = await s.claim(pid, redemption_ids=[good])
    assert r.status_code == 201, r.text
    assert [x["redemption_id"] for x in r.json()["redemptions"]] == [good]
    assert r.json()["total_fen"] == 5_000
    row = await s.w.conn.fetchrow("SELECT claim_id FROM redemption WHERE id = $1::uuid", good)
    assert str(row["claim_id"]) == r.json()["id"]
