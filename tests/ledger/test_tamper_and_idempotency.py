"""Tamper evidence (a superuser alters rows behind the service's back) and exactly-once
writes under retries."""

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from tests.ledger.conftest import SHARES, redemption, void


async def _tamper(ledger, sql, *args):
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.sdb.owner_url))
    try:
        await conn.execute("SET session_replication_role = replica")  # triggers off
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _book(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(100_000)
    reds = [redemption(1000 + i) for i in range(5)]
    await ledger.events(reds)
    assert (await ledger.verify())["ok"]
    return reds


async def test_verify_names_the_altered_entry(ledger):
    await _book(ledger)
    target = await ledger.fetchval("SELECT id FROM entry WHERE seq = 4")
    await _tamper(
        ledger,
        "UPDATE posting SET amount_fen = amount_fen + 1 WHERE entry_id = $1 AND line = 1",
        target,
    )
    v = await ledger.verify()
    assert not v["ok"] and v["entries_checked"] == 3
    assert v["first_bad_entry"]["id"] == str(target) and v["first_bad_entry"]["seq"] == 4


async def test_verify_detects_a_deleted_entry_and_a_forged_balance(ledger):
    await _book(ledger)
    last = await ledger.fetchval("SELECT id FROM entry WHERE seq = 8")
    await _tamper(ledger, "DELETE FROM posting WHERE entry_id = $1", last)
    await _tamper(ledger, "DELETE FROM entry WHERE id = $1", last)
    v = await ledger.verify()
    assert not v["ok"] and "head" in v["reason"]


async def test_verify_detects_a_balance_changed_behind_the_journal(ledger):
    await _book(ledger)
    await _tamper(ledger, "UPDATE account SET balance_fen = balance_fen - 5 WHERE code = '3001'")
    v = await ledger.verify()
    assert not v["ok"] and v["reason"] == "stored balances differ from postings"


async def test_commitment_retries_return_the_same_answer(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    first = await ledger.commit(10_000, key="issuance:run-1:0")
    again = await ledger.commit(10_000, key="issuance:run-1:0")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert (await ledger.budget())["available_fen"] == 990_000
    before = await ledger.snapshot()
    other = await ledger.commit(20_000, key="issuance:run-1:0")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await ledger.snapshot() == before


async def test_a_rejected_commitment_stays_rejected(ledger):
    await ledger.appropriate({"central": 9_500, "regional": 500})
    refused = await ledger.commit(50_000, key="issuance:run-2:0")
    assert refused.status_code == 409
    await ledger.appropriate({"central": 95_000, "regional": 5_000})
    retry = await ledger.commit(50_000, key="issuance:run-2:0")
    assert retry.status_code == 409 and retry.json() == refused.json()
    assert (await ledger.budget())["available_fen"] == 110_000


async def test_appropriation_retry_posts_once(ledger):
    a = await ledger.appropriate({"central": 100}, key="appr-1")
    b = await ledger.appropriate({"central": 100}, key="appr-1")
    assert a.json() == b.json()
    assert await ledger.fetchval("SELECT count(*) FROM entry") == 1
    c = await ledger.appropriate({"central": 101}, key="appr-1")
    assert c.status_code == 409 and c.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_event_batches_apply_each_event_once(ledger):
    reds = await _book(ledger)
    entries = await ledger.fetchval("SELECT count(*) FROM entry")
    again = await ledger.events([*reds, reds[0]])
    assert [r["status"] for r in again] == ["duplicate"] * 6
    assert await ledger.fetchval("SELECT count(*) FROM entry") == entries
    changed = dict(reds[1], payload=dict(reds[1]["payload"], subsidy_fen=1))
    res = await ledger.events([changed])
    assert res[0]["status"] == "rejected" and res[0]["error"]["code"] == "EVENT_ID_REUSED"
    # within one batch: a redemption, its void, and the same void again
    red = redemption(777)
    v = void(red)
    res = await ledger.events([red, v, v])
    assert [r["status"] for r in res] == ["applied", "applied", "duplicate"]
    assert res[1]["entry_id"] == res[2]["entry_id"]
    assert (await ledger.verify())["ok"]


async def test_bad_events_are_recorded_rejected_not_fatal_to_the_batch(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(1_000)
    bad_type = dict(redemption(10), type="redemption.teleported")
    bad_payload = redemption(10)
    bad_payload["payload"]["subsidy_fen"] = -5
    bad_shares = redemption(10)
    bad_shares["payload"]["funding_shares"] = {"central": 9000}
    too_big = redemption(5_000)  # only 1,000 fen of vouchers are outstanding
    good = redemption(10)
    res = await ledger.events([bad_type, bad_payload, bad_shares, too_big, good])
    assert [r.get("error", {}).get("code") for r in res] == [
        "UNKNOWN_EVENT_TYPE",
        "INVALID_PAYLOAD",
        "INVALID_PAYLOAD",
        "INSUFFICIENT_BALANCE",
        None,
    ]
    assert res[-1]["status"] == "applied"
    again = await ledger.events([bad_type, bad_payload, bad_shares, too_big, good])
    assert [r["status"] for r in again] == ["rejected"] * 4 + ["duplicate"]
    assert SHARES  # the shares the good one used
