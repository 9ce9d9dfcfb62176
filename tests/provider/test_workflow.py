"""Applying and the status workflow: who may, what is allowed, what is kept as history."""

import asyncio

import pytest

from tests.provider.conftest import application


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


async def test_officer_applies_and_approves_and_history_keeps_every_step(ctx):
    pid = await ctx.apply()
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=ctx.officer)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "applied"
    assert body["bank_account"]["account_number_masked"] == "***************0123"
    assert body["contact"]["phone_masked"] == "138****5678"
    assert "6222021234567890123" not in r.text and "13812345678" not in r.text
    assert [s["code"] for s in body["services"]] == ["MEAL_LUNCH", "BATH_HOME"]

    for action, status in [
        ("approve", "approved"),
        ("suspend", "suspended"),
        ("approve", "approved"),
        ("revoke", "revoked"),
    ]:
        r = await ctx.c.post(
            f"/v1/providers/{pid}/{action}", json={"reason": f"因为{action}"}, headers=ctx.officer
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status

    r = await ctx.c.get(f"/v1/providers/{pid}/history", headers=ctx.officer)
    steps = [(h["from_status"], h["to_status"], h["reason"]) for h in r.json()["items"]]
    assert steps == [
        (None, "applied", "application submitted"),
        ("applied", "approved", "因为approve"),
        ("approved", "suspended", "因为suspend"),
        ("suspended", "approved", "因为approve"),
        ("approved", "revoked", "因为revoke"),
    ]
    assert all(h["actor"] == "officer:nn" for h in r.json()["items"][1:])


async def test_sensitive_values_are_encrypted_at_rest(ctx):
    pid = await ctx.apply()
    raw = await ctx.fetchval(
        "SELECT bank_account_number_enc || contact_phone_enc FROM provider WHERE id = $1::uuid", pid
    )
    assert b"6222021234567890123" not in raw and b"13812345678" not in raw


ILLEGAL = [
    ([], "suspend"),  # applied -> suspended
    (["approve"], "approve"),  # approved -> approved
    (["approve", "suspend"], "suspend"),  # suspended -> suspended
    ([], "revoke"),  # applied -> revoked (an application is refused, not revoked)
    (["refuse"], "approve"),  # refused -> approved
    (["approve", "revoke"], "approve"),  # revoked -> approved
    (["approve", "revoke"], "suspend"),  # revoked -> suspended
    (["approve", "revoke"], "revoke"),  # revoked -> revoked
]


async def test_illegal_transitions_are_refused_and_change_nothing(ctx):
    for path, action in ILLEGAL:
        pid = await ctx.apply()
        for step in path:
            r = await ctx.c.post(
                f"/v1/providers/{pid}/{step}", json={"reason": "ok"}, headers=ctx.officer
            )
            assert r.status_code == 200
        before = await ctx.counts()
        r = await ctx.c.post(
            f"/v1/providers/{pid}/{action}", json={"reason": "no"}, headers=ctx.officer
        )
        assert r.status_code == 409, (path, action)
        assert r.json()["error"]["code"] == "ILLEGAL_TRANSITION"
        assert (
            r.json()["error"]["details"]["to"]
            == {"approve": "approved", "suspend": "suspended", "revoke": "revoked"}[action]
        )
        assert await ctx.counts() == before


async def test_the_database_refuses_an_illegal_transition_too(ctx):
    import asyncpg

    from services.common.db import asyncpg_connect_kwargs

    pid = await ctx.apply()
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ctx.owner_url))
    try:
        with pytest.raises(asyncpg.PostgresError, match="ILLEGAL_TRANSITION"):
            await conn.execute("UPDATE provider SET status = 'suspended' WHERE id = $1::uuid", pid)
    finally:
        await conn.close()


async def test_officer_of_another_region_cannot_approve(ctx, tokens):
    pid = await ctx.apply()
    liuzhou = tokens.headers("civil_affairs", region="450200")
    before = await ctx.counts()
    r = await ctx.c.post(f"/v1/providers/{pid}/approve", json={"reason": "x"}, headers=liuzhou)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    assert await ctx.counts() == before
    # A county officer of another county in the same city neither.
    xingning = tokens.headers("civil_affairs", region="450102")
    r = await ctx.c.post(f"/v1/providers/{pid}/approve", json={"reason": "x"}, headers=xingning)
    assert r.status_code == 403
    # The province's officer covers every region.
    province = tokens.headers("civil_affairs", region="450000")
    r = await ctx.c.post(f"/v1/providers/{pid}/approve", json={"reason": "x"}, headers=province)
    assert r.status_code == 200


async def test_only_officers_change_status(ctx, tokens):
    pid = await ctx.apply()
    before = await ctx.counts()
    for role in (
        "provider_admin",
        "provider_staff",
        "finance",
        "auditor",
        "beneficiary",
        "proxy",
        "service",
    ):
        headers = tokens.headers(role, region="450000", provider_id=pid)
        for action in ("approve", "revoke"):
            r = await ctx.c.post(
                f"/v1/providers/{pid}/{action}", json={"reason": "x"}, headers=headers
            )
            assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert await ctx.counts() == before


async def test_a_status_change_needs_a_reason_and_a_known_provider(ctx):
    pid = await ctx.apply()
    before = await ctx.counts()
    r = await ctx.c.post(f"/v1/providers/{pid}/approve", json={"reason": "  "}, headers=ctx.officer)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = await ctx.c.post(f"/v1/providers/{pid}/approve", json={}, headers=ctx.officer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await ctx.c.post(
        "/v1/providers/0192d1b2-aaaa-7bbb-8ccc-123456789abc/approve",
        json={"reason": "x"},
        headers=ctx.officer,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROVIDER_NOT_FOUND"
    r = await ctx.c.post(
        "/v1/providers/not-a-uuid/approve", json={"reason": "x"}, headers=ctx.officer
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "provider_id"
    r = await ctx.c.post(f"/v1/providers/{pid}/approve", json={"reason": "x"})
    assert r.status_code == 401
    assert await ctx.counts() == before


async def test_concurrent_approvals_approve_once(ctx):
    pid = await ctx.apply()
    results = await asyncio.gather(
        *[
            ctx.c.post(
                f"/v1/providers/{pid}/approve", json={"reason": f"r{i}"}, headers=ctx.officer
            )
            for i in range(6)
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * 5
    assert (
        await ctx.fetchval(
            "SELECT count(*) FROM provider_status_change WHERE provider_id = $1::uuid "
            "AND to_status = 'approved'",
            pid,
        )
        == 1
    )


async def test_provider_admin_applies_for_its_own_account_once(ctx, tokens):
    pid = "0192d1b2-aaaa-7bbb-8ccc-0000000000a1"
    admin = tokens.headers("provider_admin", provider_id=pid)
    r = await ctx.c.post("/v1/providers", json=application(), headers=admin)
    assert r.status_code == 201 and r.json() == {"id": pid, "status": "applied"}
    before = await ctx.counts()
    r = await ctx.c.post("/v1/providers", json=application(), headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "PROVIDER_EXISTS"
    assert await ctx.counts() == before
    # Its own admin sees the application; another provider's admin does not.
    assert (await ctx.c.get(f"/v1/providers/{pid}", headers=admin)).status_code == 200
    other = tokens.headers("provider_admin", provider_id="0192d1b2-aaaa-7bbb-8ccc-0000000000a2")
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=other)
    assert r.status_code == 404
    r = await ctx.c.get(f"/v1/providers/{pid}/history", headers=other)
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROVIDER_NOT_FOUND"


async def test_an_approved_provider_is_public_without_its_private_parts(ctx, tokens):
    pid = await ctx.approved()
    elder = tokens.headers("beneficiary", sub="b1")
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=elder)
    assert r.status_code == 200
    assert r.json()["contact"] is None and r.json()["bank_account"] is None
    r = await ctx.c.get(f"/v1/providers/{pid}/credit", headers=elder)
    assert r.status_code == 403
