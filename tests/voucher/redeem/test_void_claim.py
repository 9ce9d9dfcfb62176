"""Void the same day before it is claimed; claims by the ledger; lists; outbox lag."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import orjson
import pytest

from services.common.auth import Role
from tests.voucher.redeem.conftest import key, qr


@pytest.fixture
async def world(shared_world):
    """Most tests here share one database (they count relative to their start)."""
    return shared_world


async def _redeem(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben, face_fen=10_000, ratio_bp=10_000, day_limit_count=1)
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 10_000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201 and r.json()["balance_fen"] == 0
    return world, term, ben, vid, r.json()["id"]


@pytest.fixture
async def redeemed(world):
    """A person's 100-yuan voucher spent in full at a terminal."""
    return await _redeem(world)


@pytest.fixture
async def redeemed_alone(own_world):
    """The same on a database of the test's own (for global counts: lag, nonce purge)."""
    return await _redeem(own_world)


async def test_void_restores_balance_status_and_day_limit_and_emits_the_reversal(redeemed):
    world, term, ben, vid, rid = redeemed
    r = await world.client.post(
        f"/v1/redemptions/{rid}/void",
        headers=term.headers,
        json={"reason": "wrong service entered"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["balance_fen"] == 10_000 and r.json()["already_voided"] is False
    v = await world.conn.fetchrow(
        "SELECT status, balance_fen, day_count, day_subsidy_fen FROM voucher WHERE id = $1", vid
    )
    assert tuple(v) == ("active", 10_000, 0, 0)
    ev = await world.conn.fetchrow(
        "SELECT payload::text AS p FROM outbox WHERE type = 'redemption.voided' "
        "AND payload->>'redemption_id' = $1",
        rid,
    )
    p = orjson.loads(ev["p"])
    assert p["redemption_id"] == rid and p["subsidy_fen"] == 10_000
    assert p["reason"] == "wrong service entered" and p["funding_shares"]["central"] == 9500
    # The day's single use is free again.
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 500,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201


async def test_void_is_idempotent_even_when_raced(redeemed):
    world, term, _ben, vid, rid = redeemed
    answers = await asyncio.gather(
        *(
            world.client.post(
                f"/v1/redemptions/{rid}/void", headers=term.headers, json={"reason": "mistake"}
            )
            for _ in range(10)
        )
    )
    assert all(a.status_code == 200 for a in answers)
    assert sum(not a.json()["already_voided"] for a in answers) == 1
    assert await world.balance(vid) == 10_000
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'redemption.voided' "
            "AND payload->>'redemption_id' = $1",
            rid,
        )
        == 1
    )


async def test_only_the_same_provider_may_void(redeemed, tokens):
    world, term, _ben, vid, rid = redeemed
    other = world.add_terminal(world.add_provider())
    url = f"/v1/redemptions/{rid}/void"
    r = await world.client.post(url, headers=other.headers, json={"reason": "x"})
    assert r.status_code == 404
    r = await world.client.post(
        url,
        headers=tokens.headers(Role.provider_admin, provider_id=other.provider_id),
        json={"reason": "x"},
    )
    assert r.status_code == 404
    for role in (Role.civil_affairs, Role.finance, Role.beneficiary, Role.service):
        r = await world.client.post(
            url, headers=tokens.headers(role, region="450000"), json={"reason": "x"}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert await world.balance(vid) == 0
    r = await world.client.post(
        url,
        headers=tokens.headers(Role.provider_staff, provider_id=term.provider_id),
        json={"reason": "staff fix"},
    )
    assert r.status_code == 200 and await world.balance(vid) == 10_000


async def test_void_bad_input_changes_nothing(redeemed):
    world, term, _ben, vid, rid = redeemed
    for payload, field in [
        ({}, "reason"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "ok", "x": 1}, "x"),
    ]:
        r = await world.client.post(
            f"/v1/redemptions/{rid}/void", headers=term.headers, json=payload
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == field
    r = await world.client.post(
        "/v1/redemptions/not-a-uuid/void", headers=term.headers, json={"reason": "x"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "redemption_id"
    assert await world.balance(vid) == 0
    assert await world.counts() == (1, 1, 1)


async def test_void_refused_after_the_day_or_once_claimed(redeemed, tokens):
    world, term, _ben, _vid, rid = redeemed
    svc = tokens.headers(Role.service)
    r = await world.client.post(
        "/v1/internal/redemptions/claim",
        headers=svc,
        json={"claim_id": "c1", "redemption_ids": [rid]},
    )
    assert r.status_code == 200 and r.json()["claimed"] == [rid]
    r = await world.client.post(
        f"/v1/redemptions/{rid}/void", headers=term.headers, json={"reason": "late"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "REDEMPTION_CLAIMED"
    # Claiming again under the same claim is harmless, under another refused.
    assert (
        await world.client.post(
            "/v1/internal/redemptions/claim",
            headers=svc,
            json={"claim_id": "c1", "redemption_ids": [rid]},
        )
    ).status_code == 200
    r = await world.client.post(
        "/v1/internal/redemptions/claim",
        headers=svc,
        json={"claim_id": "c2", "redemption_ids": [rid]},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "REDEMPTION_ALREADY_CLAIMED"
    # Yesterday's redemption (moved back a day behind the service's back, as superuser).
    ben2 = await world.add_beneficiary()
    await world.add_voucher(ben2)
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben2),
            "service_code": "CARE_BATH",
            "gross_fen": 1000,
            "idempotency_key": key(),
        },
    )
    rid2 = r.json()["id"]
    await world.conn.execute("ALTER TABLE redemption DISABLE TRIGGER redemption_guard")
    await world.conn.execute("UPDATE redemption SET day_on = day_on - 1 WHERE id = $1::uuid", rid2)
    await world.conn.execute("ALTER TABLE redemption ENABLE TRIGGER redemption_guard")
    r = await world.client.post(
        f"/v1/redemptions/{rid2}/void", headers=term.headers, json={"reason": "late"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "VOID_WINDOW_CLOSED"
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'redemption.voided' "
            "AND payload->>'redemption_id' = ANY($1::text[])",
            [rid, rid2],
        )
        == 0
    )


async def test_claim_refuses_voided_and_unknown_and_non_services(redeemed, tokens):
    world, term, _ben, _vid, rid = redeemed
    await world.client.post(
        f"/v1/redemptions/{rid}/void", headers=term.headers, json={"reason": "x"}
    )
    svc = tokens.headers(Role.service)
    r = await world.client.post(
        "/v1/internal/redemptions/claim",
        headers=svc,
        json={"claim_id": "c1", "redemption_ids": [rid]},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "REDEMPTION_VOIDED"
    r = await world.client.post(
        "/v1/internal/redemptions/claim",
        headers=svc,
        json={"claim_id": "c1", "redemption_ids": ["01a209d1-4a36-7c0e-aa23-ed0318e0eac8"]},
    )
    assert r.status_code == 404
    r = await world.client.post(
        "/v1/internal/redemptions/claim", headers=svc, json={"claim_id": "c1", "redemption_ids": []}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "redemption_ids"
    r = await world.client.post(
        "/v1/internal/redemptions/claim",
        headers=tokens.headers(Role.provider_admin, provider_id=term.provider_id),
        json={"claim_id": "c1", "redemption_ids": [rid]},
    )
    assert r.status_code == 403
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM redemption WHERE claimed_at IS NOT NULL AND id = $1::uuid", rid
        )
        == 0
    )


async def test_the_database_refuses_changing_a_redemptions_amounts(redeemed):
    world, _term, _ben, vid, rid = redeemed
    import asyncpg

    app_conn = await asyncpg.connect(world.app.state.db.url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="REDEMPTION_IMMUTABLE"):
            await app_conn.execute(
                "UPDATE redemption SET subsidy_fen = 1, copay_fen = 9999 WHERE id = $1::uuid", rid
            )
        with pytest.raises(asyncpg.PostgresError, match="REDEMPTION_IMMUTABLE"):
            await app_conn.execute("DELETE FROM redemption WHERE id = $1::uuid", rid)
        with pytest.raises(asyncpg.CheckViolationError):
            await app_conn.execute("UPDATE voucher SET balance_fen = -1 WHERE id = $1", vid)
    finally:
        await app_conn.close()


async def test_the_database_keeps_the_voucher_and_the_person_a_redemption_names(redeemed):
    """The redemption's foreign keys to voucher and person are gone from the hot path
    (migration voucher_1901); a delete of either parent is still refused."""
    world, _term, _ben, vid, rid = redeemed
    import asyncpg

    ben_id = await world.conn.fetchval(
        "SELECT beneficiary_id FROM redemption WHERE id = $1::uuid", rid
    )
    app_conn = await asyncpg.connect(world.app.state.db.url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="REDEMPTION_PARENT"):
            await app_conn.execute("DELETE FROM voucher WHERE id = $1", vid)
        with pytest.raises(asyncpg.PostgresError, match="REDEMPTION_PARENT"):
            await app_conn.execute("DELETE FROM beneficiary WHERE id = $1", ben_id)
    finally:
        await app_conn.close()
    assert await world.conn.fetchval("SELECT count(*) FROM voucher WHERE id = $1", vid) == 1


async def test_lists_for_the_provider_day_and_the_persons_history(redeemed, tokens):
    world, term, ben, _vid, rid = redeemed
    from datetime import UTC, datetime

    from services.voucher.service.redemption import local_day

    today = local_day(datetime.now(UTC))
    admin = tokens.headers(Role.provider_admin, provider_id=term.provider_id)
    r = await world.client.get(
        "/v1/redemptions",
        headers=admin,
        params={"provider_id": term.provider_id, "date": str(today)},
    )
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [rid]
    r = await world.client.get(
        "/v1/redemptions",
        headers=term.headers,
        params={"provider_id": term.provider_id, "date": str(today - timedelta(days=1))},
    )
    assert r.json() == []
    other = tokens.headers(Role.provider_admin, provider_id="someone-else")
    r = await world.client.get(
        "/v1/redemptions",
        headers=other,
        params={"provider_id": term.provider_id, "date": str(today)},
    )
    assert r.status_code == 403
    for not_a_date in ("yesterday", "0", "86400", "0.5"):  # numbers: seconds since 1970
        r = await world.client.get(
            "/v1/redemptions",
            headers=admin,
            params={"provider_id": term.provider_id, "date": not_a_date},
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "date", not_a_date
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"

    url = f"/v1/beneficiaries/{ben}/redemptions"
    proxy = tokens.headers(Role.proxy, sub="proxy:son", beneficiary_ids=[str(ben)])
    # a proxy's token alone does not open the history: the authorisation must be live
    r = await world.client.get(url, headers=proxy)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    await world.add_proxy(ben, "proxy:son")
    for headers in (
        tokens.headers(Role.beneficiary, sub=str(ben)),
        proxy,
        tokens.headers(Role.civil_affairs, region="450100"),
    ):
        r = await world.client.get(url, headers=headers)
        assert r.status_code == 200 and r.json()[0]["subsidy_fen"] == 10_000
    # a wrong role is refused; someone else's person and another city's are not found,
    # exactly like an id nobody has
    assert (await world.client.get(url, headers=admin)).status_code == 403
    liuzhou = tokens.headers(Role.civil_affairs, region="450200")
    missing = await world.client.get(
        f"/v1/beneficiaries/{uuid.uuid4()}/redemptions", headers=liuzhou
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    for headers in (tokens.headers(Role.beneficiary, sub="someone"), liuzhou):
        r = await world.client.get(url, headers=headers)
        assert (r.status_code, r.json()) == (404, missing.json())


async def test_outbox_lag_is_visible_to_finance_and_in_readiness(redeemed_alone, tokens):
    world, term, _ben, _vid, _rid = redeemed_alone
    r = await world.client.get(
        "/v1/outbox/lag", headers=tokens.headers(Role.finance, region="450000")
    )
    assert r.status_code == 200 and r.json()["undelivered"] == 1
    assert r.json()["oldest_age_s"] >= 0
    r = await world.client.get("/v1/outbox/lag", headers=term.headers)
    assert r.status_code == 403
    ready = (await world.client.get("/readyz")).json()
    assert ready["checks"]["outbox"]["undelivered"] == 1


async def test_outbox_lag_counts_by_index_never_scanning_every_event(redeemed_alone):
    """How far the relay is behind is asked often (readiness, the relay's progress line, the
    bench's drain): it counts the backlog and the refused events by their partial indexes,
    never every event the outbox has carried."""
    world, *_ = redeemed_alone
    from services.voucher.repository import redemption as repo

    conn = world.conn
    await conn.execute(
        "INSERT INTO outbox (event_id, type, payload, delivered_at) "
        "SELECT gen_random_uuid(), 'redemption.created', "
        """'{"budget_region_code": "450100"}', now() FROM generate_series(1, 2000)"""
    )
    await conn.execute("UPDATE outbox SET rejected = true WHERE id = (SELECT max(id) FROM outbox)")
    lag = await repo.lag(conn)
    assert (lag.undelivered, lag.rejected) == (1, 1)  # the redemption's event; the refused one
    assert lag.oldest_undelivered_at is not None and lag.oldest_age_s >= 0
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # what the indexes can serve
        plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + repo.LAG)
    assert "Seq Scan" not in plan and "ix_outbox_rejected" in plan, plan


async def test_only_expired_nonces_are_purged(redeemed_alone):
    world, _term, _ben, _vid, _rid = redeemed_alone
    from datetime import UTC, datetime, timedelta

    from services.voucher.repository.redemption_flow import purge_nonces

    db = world.app.state.db
    async with db.unit_of_work() as session:
        assert await purge_nonces(session, datetime.now(UTC)) == 0  # not expired yet
    async with db.unit_of_work() as session:
        assert await purge_nonces(session, datetime.now(UTC) + timedelta(minutes=2)) == 1
    assert (await world.counts())[2] == 0
