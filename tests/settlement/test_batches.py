"""Payment batches: approved claims -> instruction file with checksum; the bank's
confirmation posts payments once; failed lines return to payable; races."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import uuid

from services.common.auth import Role


async def _approved_claim(s, pid, term, grosses=(10_000,)) -> dict:
    for g in grosses:
        await s.redeem(term, g)
    await s.deliver()
    claim = (await s.claim(pid)).json()
    r = await s.lc.post(
        f"/v1/claims/{claim['id']}/approve", headers=s.finance("finance:b"), json={}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _confirmation(batch: dict, statuses: dict[str, str]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        ["batch_reference", "line_reference", "status", "amount_fen", "bank_reference", "reason"]
    )
    for ln in batch["lines"]:
        st = statuses.get(ln["claim_id"], "paid")
        w.writerow(
            [
                batch["reference"],
                ln["reference"],
                st,
                ln["amount_fen"],
                "BK1",
                "账户冻结" if st == "failed" else "",
            ]
        )
    return out.getvalue().encode()


async def _payable(s, pid) -> int:
    return await s.fetchval(
        "SELECT coalesce(sum(balance_fen), 0) FROM account "
        "WHERE code = '2201' AND provider_id = $1",
        pid,
    )


async def _import(s, batch_id, body, who="finance:d"):
    """The bank's confirmation, imported by a finance officer who did not make the batch
    (unless `who` says otherwise)."""
    return await s.lc.post(
        f"/v1/payment-batches/{batch_id}/confirmations",
        content=body,
        headers={**s.finance(who), "content-type": "text/csv"},
    )


async def test_batch_file_then_confirmation_posts_once_and_failed_returns(paying):
    s = paying
    (pa, ta), (pb, tb) = await s.provider(), await s.provider()
    ca = await _approved_claim(s, pa, ta, (10_000, 4_000))
    cb = await _approved_claim(s, pb, tb, (6_000,))
    assert await _payable(s, pa) == -7_000
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": "batch-key-0001"},
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["total_fen"] == 10_000 and batch["count"] == 2
    f = await s.lc.get(f"/v1/payment-batches/{batch['id']}/file", headers=s.finance())
    assert f.status_code == 200 and f.headers["content-type"].startswith("text/csv")
    assert (
        hashlib.sha256(f.content).hexdigest()
        == f.headers["x-checksum-sha256"]
        == batch["file_sha256"]
    )
    rows = list(csv.DictReader(io.StringIO(f.content.decode())))
    assert list(rows[0]) == [
        "batch_reference",
        "line_reference",
        "payee_name",
        "bank_name",
        "account_number",
        "amount_fen",
        "purpose",
    ]
    assert {r["amount_fen"] for r in rows} == {"7000", "3000"}
    assert all(r["account_number"] == "6222021234567890123" for r in rows)
    assert all(r["batch_reference"] == batch["reference"] for r in rows)
    # the same key answers the same batch
    again = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": "batch-key-0001"},
    )
    assert again.status_code == 201 and again.json()["id"] == batch["id"]

    cash_before = await s.fetchval("SELECT sum(balance_fen) FROM account WHERE code = '1001'")
    body = _confirmation(batch, {cb["id"]: "failed"})
    r = await _import(s, batch["id"], body)
    assert r.status_code == 200, r.text
    assert len(r.json()["paid"]) == 1 and len(r.json()["failed"]) == 1
    assert r.json()["paid_fen"] == 7_000
    assert await _payable(s, pa) == 0
    assert await _payable(s, pb) == -3_000  # failed: still owed
    cash_after = await s.fetchval("SELECT sum(balance_fen) FROM account WHERE code = '1001'")
    assert cash_before - cash_after == 7_000
    entries = await s.fetchval("SELECT count(*) FROM entry")
    # the same file again posts nothing
    r = await _import(s, batch["id"], body)
    assert r.status_code == 200 and r.json()["duplicate_file"] is True
    assert await s.fetchval("SELECT count(*) FROM entry") == entries
    statuses = {
        c: (await s.lc.get(f"/v1/claims/{c}", headers=s.finance())).json()["status"]
        for c in (ca["id"], cb["id"])
    }
    assert statuses == {ca["id"]: "paid", cb["id"]: "approved"}
    # the failed claim goes in a later batch and is paid then
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": "batch-key-0002"},
    )
    assert r.status_code == 201 and [ln["claim_id"] for ln in r.json()["lines"]] == [cb["id"]]
    r = await _import(s, r.json()["id"], _confirmation(r.json(), {}))
    assert r.status_code == 200 and r.json()["paid_fen"] == 3_000
    assert await _payable(s, pb) == 0
    verify = await s.lc.get(
        "/v1/chain/verify", headers=s.tokens.headers(Role.auditor, region="450000")
    )
    assert verify.json()["ok"] is True


async def test_bad_confirmation_and_bad_batch_requests_change_nothing(paying):
    s = paying
    pa, ta = await s.provider()
    await _approved_claim(s, pa, ta)
    batch = (
        await s.lc.post(
            "/v1/payment-batches",
            headers=s.finance(),
            json={"region_code": "450100", "idempotency_key": "batch-key-0003"},
        )
    ).json()
    entries = await s.fetchval("SELECT count(*) FROM entry")
    good = _confirmation(batch, {})
    wrong_amount = good.replace(b",10000,", b",9999,").replace(b",5000,", b",4999,")
    for body, code in (
        (b"not,a,confirmation\n1,2,3\n", "CONFIRMATION_INVALID"),
        (wrong_amount, "CONFIRMATION_INVALID"),
        (good.replace(batch["reference"].encode(), b"PBX"), "CONFIRMATION_INVALID"),
        (b"", "CONFIRMATION_INVALID"),
        (b"\xff\xfe", "CONFIRMATION_INVALID"),
    ):
        r = await _import(s, batch["id"], body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (body, r.text)
    # A bank's file is a file: up to its own limit (5 MiB) it is read and judged, past it the
    # answer is the file's code, not the JSON body limit's (1 MiB).
    r = await _import(s, batch["id"], wrong_amount + b"\n" * (2 * 1024 * 1024))
    assert r.status_code == 422 and r.json()["error"]["code"] == "CONFIRMATION_INVALID", r.text
    r = await _import(s, batch["id"], good + b"\n" * (6 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "FILE_TOO_LARGE", r.text
    assert await s.fetchval("SELECT count(*) FROM payment_line WHERE status <> 'pending'") == 0
    assert await s.fetchval("SELECT count(*) FROM entry") == entries
    assert await s.fetchval("SELECT count(*) FROM payment_line WHERE status <> 'pending'") == 0
    # role and scope
    for headers in (s.tokens.headers(Role.auditor, region="450000"), s.admin(pa)):
        r = await s.lc.post(
            f"/v1/payment-batches/{batch['id']}/confirmations", content=good, headers=headers
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await s.lc.post(
        f"/v1/payment-batches/{batch['id']}/confirmations",
        content=good,
        headers=s.finance(region="450200"),
    )
    assert r.status_code == 404
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance(region="450200"),
        json={"region_code": "450100", "idempotency_key": "batch-key-0004"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance(),
        json={"region_code": "4501", "idempotency_key": "batch-key-0005"},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "region_code"
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance(),
        json={
            "region_code": "450100",
            "idempotency_key": "batch-key-0006",
            "claim_ids": [str(uuid.uuid4())],
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "CLAIMS_NOT_PAYABLE"
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance(),
        json={
            "region_code": "450100",
            "idempotency_key": "batch-key-0003",
            "claim_ids": [batch["lines"][0]["claim_id"]],
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await s.fetchval("SELECT count(*) FROM entry") == entries
    assert await s.fetchval("SELECT count(*) FROM payment_batch") == 1


async def test_races_batching_the_same_claim_and_importing_the_same_file(paying):
    s = paying
    pa, ta = await s.provider()
    claim = await _approved_claim(s, pa, ta)
    answers = await asyncio.gather(
        *(
            s.lc.post(
                "/v1/payment-batches",
                headers=s.finance(f"finance:{i}"),
                json={
                    "region_code": "450100",
                    "claim_ids": [claim["id"]],
                    "idempotency_key": f"batch-race-{i:04d}",
                },
            )
            for i in range(3)
        )
    )
    won = [a for a in answers if a.status_code == 201]
    assert len(won) == 1, [a.text for a in answers]
    assert all(
        a.json()["error"]["code"] == "CLAIMS_NOT_PAYABLE" for a in answers if a.status_code != 201
    )
    batch = won[0].json()
    body = _confirmation(batch, {})
    results = await asyncio.gather(
        *(_import(s, batch["id"], body, f"finance:checker{i}") for i in range(3))
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sum(not r.json()["duplicate_file"] for r in results) == 1
    assert await s.fetchval("SELECT count(*) FROM entry WHERE kind = 'settlement_payment'") == 1
    assert await _payable(s, pa) == 0


async def test_the_maker_of_a_batch_cannot_import_its_confirmation(paying):
    """Maker-checker: the confirmation posts the payments, so the officer who made the batch
    is refused (nothing read, nothing posted, the claim still batched); another pays it."""
    s = paying
    pa, ta = await s.provider()
    claim = await _approved_claim(s, pa, ta)
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:maker"),
        json={"region_code": "450100", "idempotency_key": "batch-key-maker"},
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["created_by"] == "finance:maker"
    body = _confirmation(batch, {})
    entries = await s.fetchval("SELECT count(*) FROM entry")
    for attempt in (body, body):  # the same file again is refused too, not "seen before"
        r = await _import(s, batch["id"], attempt, who="finance:maker")
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "MAKER_CHECKER_VIOLATION"
        assert r.json()["error"]["field"] == "batch_id"
    assert await s.fetchval("SELECT count(*) FROM entry") == entries
    assert await s.fetchval("SELECT count(*) FROM bank_confirmation") == 0
    assert await s.fetchval("SELECT count(*) FROM payment_line WHERE status <> 'pending'") == 0
    got = await s.lc.get(f"/v1/claims/{claim['id']}", headers=s.finance())
    assert got.json()["status"] == "batched"
    assert await _payable(s, pa) == -5_000
    r = await _import(s, batch["id"], body, who="finance:checker")
    assert r.status_code == 200 and r.json()["paid_fen"] == 5_000, r.text
    assert await _payable(s, pa) == 0
