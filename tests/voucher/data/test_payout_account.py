"""A beneficiary's payout bank account (cash benefits): set at enrolment or by an officer of
the region, stored encrypted, shown masked, read in full only by role service; bad input and
wrong role / scope refused with nothing changed."""

from __future__ import annotations

import logging
import uuid

import asyncpg
import pytest

from tests.voucher.data.conftest import person

ACCOUNT = {
    "bank_name": "中国工商银行南宁青秀支行",
    "account_name": "张三",
    "account_number": "6222021234567890123",
}


async def _enrol(env, **over):
    r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=person(**over))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_account_given_at_enrolment_is_encrypted_masked_and_full_only_for_service(
    env, caplog
):
    caplog.set_level(logging.DEBUG)
    await env.appropriate(10_000_000)
    bid = await _enrol(env, payout_account=ACCOUNT)
    got = await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.officer)
    assert got.status_code == 200
    shown = got.json()["payout_account"]
    assert shown["bank_name"] == ACCOUNT["bank_name"]
    assert shown["account_number_masked"] == "*" * 15 + "0123"
    assert shown["account_name_masked"] == "张*"
    assert ACCOUNT["account_number"] not in got.text
    raw = (
        await env.fetch("SELECT payout_account_enc FROM beneficiary WHERE id = $1", uuid.UUID(bid))
    )[0]["payout_account_enc"]
    assert ACCOUNT["account_number"].encode() not in raw
    assert ACCOUNT["account_name"].encode() not in raw

    full = await env.v.post(
        "/v1/internal/beneficiaries/payout-accounts",
        headers=env.service,
        json={"beneficiary_ids": [bid, str(uuid.uuid4())]},
    )
    assert full.status_code == 200, full.text
    out = full.json()
    assert len(out["unknown"]) == 1
    [acc] = out["accounts"]
    assert acc["account_number"] == ACCOUNT["account_number"]
    assert acc["account_name"] == "张三" and acc["status"] == "active"
    for role in ("civil_affairs", "finance", "auditor"):
        h = env.tokens.headers(role, sub=f"{role}:x", region="450000")
        r = await env.v.post(
            "/v1/internal/beneficiaries/payout-accounts", headers=h, json={"beneficiary_ids": [bid]}
        )
        assert r.status_code == 403, (role, r.text)
    assert ACCOUNT["account_number"] not in caplog.text


async def test_officer_sets_and_replaces_account_others_refused(env):
    await env.appropriate(10_000_000)
    bid = await _enrol(env)
    got = (await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.officer)).json()
    assert got["payout_account"] is None
    none = await env.v.post(
        "/v1/internal/beneficiaries/payout-accounts",
        headers=env.service,
        json={"beneficiary_ids": [bid]},
    )
    assert none.json()["accounts"][0]["account_number"] is None

    url = f"/v1/beneficiaries/{bid}/payout-account"
    # wrong scope, wrong role: refused, nothing stored
    r = await env.v.put(url, headers=env.other_officer, json=ACCOUNT)
    missing = await env.v.put(
        f"/v1/beneficiaries/{uuid.uuid4()}/payout-account", headers=env.other_officer, json=ACCOUNT
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    assert r.json() == missing.json()  # another region's person: as if there were none
    r = await env.v.put(url, headers=env.finance, json=ACCOUNT)
    assert r.status_code == 403
    r = await env.v.put(url, headers=env.service, json=ACCOUNT)
    assert r.status_code == 403
    rows = await env.fetch(
        "SELECT payout_account_enc FROM beneficiary WHERE id = $1", uuid.UUID(bid)
    )
    assert rows[0]["payout_account_enc"] is None

    r = await env.v.put(url, headers=env.officer, json=ACCOUNT)
    assert r.status_code == 200, r.text
    assert r.json()["payout_account"]["account_number_masked"].endswith("0123")
    assert ACCOUNT["account_number"] not in r.text
    r = await env.v.put(
        url, headers=env.officer, json={**ACCOUNT, "account_number": "6222029999999999876"}
    )
    assert r.status_code == 200
    full = await env.v.post(
        "/v1/internal/beneficiaries/payout-accounts",
        headers=env.service,
        json={"beneficiary_ids": [bid]},
    )
    assert full.json()["accounts"][0]["account_number"] == "6222029999999999876"

    r = await env.v.put(
        f"/v1/beneficiaries/{uuid.uuid4()}/payout-account", headers=env.officer, json=ACCOUNT
    )
    assert r.status_code == 404


async def test_bad_account_is_refused_with_the_field_and_changes_nothing(env):
    await env.appropriate(10_000_000)
    bid = await _enrol(env)
    url = f"/v1/beneficiaries/{bid}/payout-account"
    before = await env.fetch("SELECT count(*) AS n FROM beneficiary")
    for bad, field in (
        ({**ACCOUNT, "account_number": "62220X12"}, "account_number"),
        ({**ACCOUNT, "account_number": "1234"}, "account_number"),
        ({**ACCOUNT, "bank_name": "   "}, "bank_name"),
        ({k: v for k, v in ACCOUNT.items() if k != "account_name"}, "account_name"),
        ({**ACCOUNT, "extra": 1}, "extra"),
    ):
        r = await env.v.put(url, headers=env.officer, json=bad)
        assert r.status_code == 422, r.text
        assert field in r.text
        assert "62220X12" not in r.text
    rows = await env.fetch(
        "SELECT payout_account_enc FROM beneficiary WHERE id = $1", uuid.UUID(bid)
    )
    assert rows[0]["payout_account_enc"] is None
    # a bad account at enrolment refuses the enrolment: nobody is created
    r = await env.v.post(
        "/v1/beneficiaries",
        headers=env.officer,
        json=person(payout_account={**ACCOUNT, "account_number": "abc"}),
    )
    assert r.status_code == 422
    assert await env.fetch("SELECT count(*) AS n FROM beneficiary") == before
    r = await env.v.post(
        "/v1/internal/beneficiaries/payout-accounts",
        headers=env.service,
        json={"beneficiary_ids": []},
    )
    assert r.status_code == 422
    r = await env.v.post(
        "/v1/internal/beneficiaries/payout-accounts",
        headers=env.service,
        json={"beneficiary_ids": ["not-a-uuid"]},
    )
    assert r.status_code == 422


async def test_database_refuses_a_half_recorded_account(env):
    await env.appropriate(10_000_000)
    bid = await _enrol(env)
    with pytest.raises(asyncpg.CheckViolationError):
        await env.fetch(
            "UPDATE beneficiary SET payout_account_enc = '\\x00' WHERE id = $1", uuid.UUID(bid)
        )
