"""A provider's settlement account changes only when an officer of its region (not the
person who asked) approves; until then the service hands out the last approved account."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs

NEW = {
    "bank_name": "桂林银行南宁分行",
    "account_name": "青秀区长者食堂",
    "account_number": "6228480402564890018",
}
OLD_NUMBER = "6222021234567890123"


async def _service_number(ctx, pid: str) -> str:
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=ctx.service)
    assert r.status_code == 200, r.text
    return r.json()["bank_account"]["account_number"]


async def _ask(ctx, pid: str, account: dict | None = None) -> dict:
    r = await ctx.c.patch(
        f"/v1/providers/{pid}", headers=ctx.admin(pid), json={"bank_account": account or NEW}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_change_waits_for_an_officer_then_takes_effect(ctx):
    pid = await ctx.approved()
    body = await _ask(ctx, pid)
    assert body["bank_account"]["account_number_masked"].endswith("0123")  # still the old
    pending = body["bank_account_change_pending"]
    assert pending["status"] == "pending" and pending["account_number_masked"].endswith("0018")
    assert NEW["account_number"] not in str(body)
    assert await _service_number(ctx, pid) == OLD_NUMBER

    url = f"/v1/providers/{pid}/bank-account-changes/{pending['id']}"
    # the provider admin cannot approve (role); an officer of another region is refused
    r = await ctx.c.post(url + "/approve", headers=ctx.admin(pid), json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    other = ctx.tokens.headers("civil_affairs", region="450200", sub="officer:lz")
    r = await ctx.c.post(url + "/approve", headers=other, json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await ctx.c.post(
        f"/v1/providers/{pid}/bank-account-changes/00000000-0000-0000-0000-000000000000/approve",
        headers=ctx.officer,
        json={},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "BANK_CHANGE_NOT_FOUND"
    assert await _service_number(ctx, pid) == OLD_NUMBER

    r = await ctx.c.post(url + "/approve", headers=ctx.officer, json={"reason": "核对开户许可证"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decided_by"]) == ("approved", "officer:nn")
    assert await _service_number(ctx, pid) == NEW["account_number"]
    r = await ctx.c.post(url + "/reject", headers=ctx.officer, json={"reason": "晚了"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "BANK_CHANGE_NOT_PENDING"

    # history: both rows, the change log names each step; numbers masked everywhere
    r = await ctx.c.get(f"/v1/providers/{pid}/bank-account-changes", headers=ctx.officer)
    assert [c["status"] for c in r.json()["items"]] == ["approved"]
    r = await ctx.c.get(f"/v1/providers/{pid}/changes", headers=ctx.admin(pid))
    steps = [
        c["detail"].get("status")
        for c in r.json()["items"]
        if "bank_account" in c["detail"].get("fields", [])
    ]
    assert steps == ["pending", "approved"]
    assert NEW["account_number"] not in r.text


async def test_rejected_and_superseded_changes_leave_the_approved_account(ctx):
    pid = await ctx.approved()
    first = (await _ask(ctx, pid))["bank_account_change_pending"]
    second = (await _ask(ctx, pid, {**NEW, "account_number": "6228480402564899999"}))[
        "bank_account_change_pending"
    ]
    r = await ctx.c.get(f"/v1/providers/{pid}/bank-account-changes", headers=ctx.admin(pid))
    assert [(c["id"], c["status"]) for c in r.json()["items"]] == [
        (second["id"], "pending"),
        (first["id"], "superseded"),
    ]
    url = f"/v1/providers/{pid}/bank-account-changes"
    r = await ctx.c.post(f"{url}/{first['id']}/approve", headers=ctx.officer, json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "BANK_CHANGE_NOT_PENDING"
    r = await ctx.c.post(f"{url}/{second['id']}/reject", headers=ctx.officer, json={})
    assert r.status_code == 422  # a rejection carries its reason
    r = await ctx.c.post(
        f"{url}/{second['id']}/reject", headers=ctx.officer, json={"reason": "户名与营业执照不符"}
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert await _service_number(ctx, pid) == OLD_NUMBER
    r = await ctx.c.get(f"/v1/providers/{pid}", headers=ctx.admin(pid))
    assert r.json()["bank_account_change_pending"] is None


async def test_racing_approve_and_reject_decide_once(ctx):
    pid = await ctx.approved()
    change = (await _ask(ctx, pid))["bank_account_change_pending"]
    url = f"/v1/providers/{pid}/bank-account-changes/{change['id']}"
    officers = [
        ctx.tokens.headers("civil_affairs", region="450100", sub=f"officer:{i}") for i in range(6)
    ]
    answers = await asyncio.gather(
        *(
            ctx.c.post(
                url + ("/approve" if i % 2 else "/reject"), headers=h, json={"reason": "核对"}
            )
            for i, h in enumerate(officers)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409, 409, 409], [a.text for a in answers]
    won = next(a for a in answers if a.status_code == 200).json()
    expected = NEW["account_number"] if won["status"] == "approved" else OLD_NUMBER
    assert await _service_number(ctx, pid) == expected
    assert (
        await ctx.fetchval("SELECT count(*) FROM bank_account_change WHERE decided_by IS NOT NULL")
        == 1
    )


async def test_the_database_refuses_a_self_approval_and_a_direct_account_change(ctx):
    pid = await ctx.approved()
    change = (await _ask(ctx, pid))["bank_account_change_pending"]
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ctx.owner_url))
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "UPDATE bank_account_change SET status = 'approved', "
                "decided_by = requested_by, decided_at = now() "
                "WHERE id = $1::uuid",
                change["id"],
            )
        with pytest.raises(asyncpg.RaiseError, match="BANK_ACCOUNT_CHANGE_UNAPPROVED"):
            await conn.execute(
                "UPDATE provider SET bank_account_number_enc = "
                "(SELECT account_number_enc FROM bank_account_change "
                "WHERE id = $1::uuid) WHERE id = $2::uuid",
                change["id"],
                pid,
            )
        with pytest.raises(asyncpg.RaiseError, match="BANK_CHANGE_IMMUTABLE"):
            await conn.execute("DELETE FROM bank_account_change WHERE id = $1::uuid", change["id"])
        await conn.execute(
            "UPDATE bank_account_change SET status = 'rejected', "
            "decided_by = 'officer:x', decided_at = now() WHERE id = $1::uuid",
            change["id"],
        )
        with pytest.raises(asyncpg.RaiseError, match="BANK_CHANGE_NOT_PENDING"):
            await conn.execute(
                "UPDATE bank_account_change SET status = 'approved' WHERE id = $1::uuid",
                change["id"],
            )
    finally:
        await conn.close()
    assert await _service_number(ctx, pid) == OLD_NUMBER


async def test_officers_list_the_changes_waiting_in_their_region(ctx):
    """One call gives an officer every pending change of the region, with the provider and
    the account it is paid to now; another region's changes are not in it."""
    nanning = await ctx.approved()
    decided = await ctx.approved()
    liuzhou_officer = ctx.tokens.headers("civil_affairs", region="450200", sub="officer:lz")
    liuzhou = await ctx.apply(region_code="450202", headers=liuzhou_officer)
    r = await ctx.c.post(
        f"/v1/providers/{liuzhou}/approve", json={"reason": "资质审核通过"}, headers=liuzhou_officer
    )
    assert r.status_code == 200, r.text
    first = (await _ask(ctx, nanning))["bank_account_change_pending"]
    done = (await _ask(ctx, decided))["bank_account_change_pending"]
    r = await ctx.c.post(
        f"/v1/providers/{decided}/bank-account-changes/{done['id']}/approve",
        headers=ctx.officer,
        json={},
    )
    assert r.status_code == 200, r.text
    await _ask(ctx, liuzhou)

    r = await ctx.c.get("/v1/bank-account-changes", headers=ctx.officer)
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert (item["id"], item["provider_id"], item["region_code"]) == (
        first["id"],
        nanning,
        "450103",
    )
    assert item["account_number_masked"].endswith("0018")
    assert item["current"]["account_number_masked"].endswith("0123")
    assert NEW["account_number"] not in r.text and OLD_NUMBER not in r.text
    # a region inside the officer's: the same; Liuzhou's only for Liuzhou, auditors see both
    r = await ctx.c.get(
        "/v1/bank-account-changes", headers=ctx.officer, params={"region_code": "450103"}
    )
    assert [i["id"] for i in r.json()["items"]] == [first["id"]]
    r = await ctx.c.get("/v1/bank-account-changes", headers=liuzhou_officer)
    assert [i["provider_id"] for i in r.json()["items"]] == [liuzhou]
    r = await ctx.c.get("/v1/bank-account-changes", headers=ctx.tokens.headers("auditor"))
    assert {i["provider_id"] for i in r.json()["items"]} == {nanning, liuzhou}

    # wrong scope, wrong role, bad input: refused
    r = await ctx.c.get(
        "/v1/bank-account-changes", headers=ctx.officer, params={"region_code": "450202"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await ctx.c.get("/v1/bank-account-changes", headers=ctx.admin(nanning))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await ctx.c.get(
        "/v1/bank-account-changes",
        headers=ctx.tokens.headers("auditor"),
        params={"region_code": "45x"},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "region_code"
