"""The correctness checker passes on honest redemptions and catches each kind of damage."""

from __future__ import annotations

import json

from loadtests import check, seed
from tests.loadtests.conftest import connect, redeem_meal


async def _run(url: str, outcomes: list[dict] | None = None) -> check.Report:
    report = check.Report()
    await check.check_voucher_side(url, report, outcomes or [])
    return report


def _result(report: check.Report, name: str) -> bool | None:
    return next(c.ok for c in report.checks if c.name == name)


async def _redeem_some(db, ids, n=6):
    conn = await connect(db.owner_url)
    try:
        rows = [await redeem_meal(conn, ids[i % len(ids)]) for i in range(n)]
    finally:
        await conn.close()
    assert all(r is not None for r in rows)
    return rows


async def test_honest_redemptions_pass_every_voucher_side_check(seeded_voucher_db):
    db, ids = seeded_voucher_db
    await _redeem_some(db, ids)
    report = await _run(db.owner_url)
    # Nothing delivered: no relay here, so only the drain check may fail.
    assert report.failed() == ["relay drained the outbox"], report.render()
    assert _result(report, "each token used once (database)") is True
    assert _result(report, "Σ subsidies (redemption table) = Σ face − Σ balances") is True


async def test_a_balance_changed_behind_the_redemptions_back_is_caught(seeded_voucher_db):
    db, ids = seeded_voucher_db
    await _redeem_some(db, ids)
    conn = await connect(db.owner_url)
    try:
        await conn.execute(
            "UPDATE voucher SET balance_fen = balance_fen - 1 WHERE id = "
            "(SELECT id FROM voucher LIMIT 1)"
        )
    finally:
        await conn.close()
    report = await _run(db.owner_url)
    assert _result(report, "Σ subsidies (outbox events) = Σ face − Σ balances") is False
    assert _result(report, "Σ subsidies (redemption table) = Σ face − Σ balances") is False


async def test_a_duplicated_event_and_a_redemption_without_event_are_caught(seeded_voucher_db):
    db, ids = seeded_voucher_db
    await _redeem_some(db, ids)
    conn = await connect(db.owner_url)
    try:
        await conn.execute("DELETE FROM outbox WHERE id = (SELECT max(id) FROM outbox)")
        await conn.execute(
            "INSERT INTO outbox (event_id, type, payload) SELECT gen_random_uuid(), type, "
            "payload FROM outbox WHERE id = (SELECT min(id) FROM outbox)"
        )
    finally:
        await conn.close()
    report = await _run(db.owner_url)
    assert _result(report, "one redemption.created event per redemption") is False
    assert _result(report, "every redemption has its outbox event") is False


async def test_terminal_outcomes_catch_a_double_acceptance_and_a_lost_201(seeded_voucher_db):
    db, ids = seeded_voucher_db
    rows = await _redeem_some(db, ids, n=2)
    good = [
        {"kind": "meal", "status": 201, "token": "t1", "redemption_id": str(rows[0].id)},
        {"kind": "retry", "status": 200, "token": "t1", "redemption_id": str(rows[0].id)},
        {"kind": "replay", "status": 409, "token": "t1", "redemption_id": None},
    ]
    report = await _run(db.owner_url, good)
    assert _result(report, "each token accepted once (as the terminals saw it)") is True
    assert _result(report, "replayed and invalid codes refused") is True
    assert _result(report, "every 201 is durable") is True

    bad = [
        *good,
        {"kind": "meal", "status": 201, "token": "t1", "redemption_id": str(rows[1].id)},
        {"kind": "replay", "status": 201, "token": "t2", "redemption_id": str(rows[1].id)},
        {
            "kind": "meal",
            "status": 201,
            "token": "t3",
            "redemption_id": "00000000-0000-0000-0000-000000000000",
        },
    ]
    report = await _run(db.owner_url, bad)
    assert _result(report, "each token accepted once (as the terminals saw it)") is False
    assert _result(report, "replayed and invalid codes refused") is False
    assert _result(report, "every 201 is durable") is False


async def test_delivered_events_must_be_in_the_ledger_exactly_once(
    seeded_voucher_db, make_db, tokens
):
    """The ledger side, against the real ledger service: events applied through /v1/events."""
    from services.ledger.config import LedgerSettings
    from tests.conftest import running
    from tests.fixtures.voucher_programs import ledger_app

    db, ids = seeded_voucher_db
    await _redeem_some(db, ids, n=3)
    ledger = await make_db("ledger")
    conn = await connect(db.owner_url)
    try:
        events = [
            {
                "event_id": str(r["event_id"]),
                "type": r["type"],
                "occurred_at": r["occurred_at"].isoformat(),
                "payload": json.loads(r["payload"]),
            }
            for r in await conn.fetch(
                "SELECT event_id, type, occurred_at, payload::text "
                "AS payload FROM outbox ORDER BY id"
            )
        ]
        await conn.execute("UPDATE outbox SET delivered_at = now()")
    finally:
        await conn.close()
    delivered = [e["event_id"] for e in events]
    report = check.Report()
    await check.check_ledger_side(ledger.owner_url, delivered, report)
    assert _result(report, "every event posted to the ledger once") is False  # not posted

    app = ledger_app(LedgerSettings(database_url=ledger.app_url))
    async with running(app) as client:
        # Fund the ledger as the seeding step does, so that the events post.
        for path, role, body in seed.funding_requests(
            region_code="450103",
            period=seed.current_period(),
            count=len(ids),
            plans=seed.default_plans(),
        ):
            f = await client.post(path, json=body, headers=tokens.headers(role, region="450000"))
            assert f.status_code == 201, f.text
        r = await client.post(
            "/v1/events", json={"events": events}, headers=tokens.headers("service")
        )
        assert r.status_code == 200, r.text
        assert {x["status"] for x in r.json()["results"]} == {"applied"}, r.text
        # A redelivery is harmless: still exactly once.
        again = await client.post(
            "/v1/events", json={"events": events}, headers=tokens.headers("service")
        )
        assert {x["status"] for x in again.json()["results"]} == {"duplicate"}
    report = check.Report()
    await check.check_ledger_side(ledger.owner_url, delivered, report)
    assert _result(report, "every event posted to the ledger once") is True, report.render()
