"""The lifecycle (issue 15): the status timeline and what each change does to the money.

Real voucher and ledger apps on their own databases (tests/voucher/data/conftest.py): people
are enrolled through the API (their first month issued against the ledger's budget),
redemptions made through the redemption route at a provider of the in-memory directory, and
events delivered to the ledger by the real relay, so "the release posts in the ledger" and
"reconciliation stays clean" are checked on the ledger's own books.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.common.auth import hash_terminal_secret, new_terminal_secret
from services.common.ids import new_uuid
from services.voucher.relay import Relay
from services.voucher.service.periods import current_period, tz
from tests.voucher.data.conftest import (
    CITY,
    DISTRICT,
    OTHER_CITY,
    OTHER_CITY_DISTRICT,
    Env,
    make_national_id,
)

FACE = 50_000  # disability subsidy, home care


def today() -> date:
    """Today where the service counts days (Asia/Shanghai), not on this machine."""
    return datetime.now(tz()).date()


def provider(env: Env, region: str = DISTRICT) -> dict[str, str]:
    """An approved home-care provider with a bathing service priced per bill, and its
    terminal, published to the voucher service's directory: the terminal's headers."""
    directory = env.app.state.directory
    pid, tid = str(new_uuid()), str(new_uuid())
    secret = new_terminal_secret(tid)
    directory.apply(
        {
            "version": directory.version + 1,
            "providers": [
                {
                    "id": pid,
                    "name": "p",
                    "kind": "home_care",
                    "status": "approved",
                    "region_code": region,
                    "lat": 22.8,
                    "lon": 108.3,
                    "services": [
                        {
                            "code": "CARE_BATH",
                            "name": "助浴",
                            "category": "bathing",
                            "price_fen": 8000,
                            "variable_price": True,
                            "max_price_fen": 1_000_000,
                        }
                    ],
                }
            ],
            "terminals": [
                {
                    "id": tid,
                    "provider_id": pid,
                    "name": "t",
                    "status": "active",
                    "secret_sha256": hash_terminal_secret(secret),
                }
            ],
        }
    )
    return {"Authorization": f"Bearer {secret}"}


async def code(env: Env, bid: str) -> str:
    me = env.tokens.headers("beneficiary", sub=bid)
    r = await env.v.post(f"/v1/beneficiaries/{bid}/codes", headers=me)
    assert r.status_code == 201, r.text
    return r.json()["token"]


async def redeem(env: Env, terminal: dict[str, str], bid: str, gross: int = 6000) -> Any:
    token = await code(env, bid)
    return await env.v.post(
        "/v1/redemptions",
        headers=terminal,
        json={
            "token": token,
            "service_code": "CARE_BATH",
            "gross_fen": gross,
            "idempotency_key": f"k-{uuid.uuid4().hex}",
        },
    )


async def change(env: Env, bid: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    body.setdefault("reason", "民政核实")
    body.setdefault("effective_on", today().isoformat())
    return await env.v.post(
        f"/v1/beneficiaries/{bid}/status-changes", headers=headers or env.officer, json=body
    )


async def deliver(env: Env) -> None:
    relay = Relay(env.app.state.db.raw_pool, env.ledger)
    while await relay.deliver_once():
        pass
    assert relay.rejected == 0


async def outstanding(env: Env) -> int:
    """The ledger's vouchers-outstanding account (2101), as a positive amount."""
    return int(
        await env.ledger_fetchval(
            "SELECT -coalesce(sum(balance_fen), 0) FROM account WHERE code = '2101'"
        )
    )


async def assert_books_agree(env: Env) -> None:
    """Every event delivered; the sum of voucher balances is the ledger's outstanding; the
    ledger's reconciliation of the period finds nothing."""
    await deliver(env)
    assert await env.fetchval(
        "SELECT coalesce(sum(balance_fen), 0) FROM voucher"
    ) == await outstanding(env)
    r = await env.ledger.get(
        "/v1/reconciliation",
        params={"period": current_period(), "region_code": CITY},
        headers=env.tokens.headers("auditor", region="450000"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["discrepancies"] == [], r.json()


async def enrolled(env: Env, **over: Any) -> str:
    b = await env.enrol(**over)
    assert any(v["program_code"] == "disability_subsidy" for v in b["vouchers"]), b
    return str(b["id"])


async def vouchers(env: Env, bid: str) -> list[asyncpg.Record]:
    return await env.fetch(
        "SELECT id, status, balance_fen, released_fen, region_code FROM voucher "
        "WHERE beneficiary_id = $1 ORDER BY program_code",
        uuid.UUID(bid),
    )


@pytest.fixture
async def funded(env: Env) -> Env:
    await env.appropriate(10_000_000)
    return env


# --- the timeline ---------------------------------------------------------------------------


async def test_timeline_says_who_when_why_on_what_evidence_and_from_when(funded):
    env = funded
    bid = await enrolled(env)
    start, end = today() - timedelta(days=3), today() - timedelta(days=1)
    r = await change(
        env,
        bid,
        status="hospitalised",
        effective_on=start.isoformat(),
        until=end.isoformat(),
        reason="住院治疗",
        evidence_ref="入院通知书 2026-118",
    )
    assert r.status_code == 201, r.text
    # the stay is over: the person is active again without anyone recording it
    assert r.json()["current_status"] == "active"
    r = await change(env, bid, status="suspended", reason="待核查", evidence_ref="核查单 7")
    assert r.status_code == 201 and r.json()["current_status"] == "suspended"
    r = await change(env, bid, status="active", reason="核查无误")
    assert r.status_code == 201, r.text

    timeline = await env.v.get(f"/v1/beneficiaries/{bid}/status-changes", headers=env.officer)
    assert timeline.status_code == 200
    rows = timeline.json()
    assert [(c["status"], c["from_status"]) for c in rows] == [
        ("hospitalised", "active"),
        ("suspended", "active"),
        ("active", "suspended"),
    ]
    first = rows[0]
    assert (first["effective_on"], first["until"]) == (start.isoformat(), end.isoformat())
    assert first["evidence_ref"] == "入院通知书 2026-118" and first["reason"] == "住院治疗"
    assert first["created_by"] == "officer:nanning" and first["created_at"]
    assert first["source"] == "officer"
    # the vouchers were frozen and are usable again
    assert {v["status"] for v in await vouchers(env, bid)} == {"active"}
    # an auditor of the region reads it; another region's officer sees no such person
    auditor = env.tokens.headers("auditor", region=CITY)
    assert (
        await env.v.get(f"/v1/beneficiaries/{bid}/status-changes", headers=auditor)
    ).json() == rows
    other = await env.v.get(f"/v1/beneficiaries/{bid}/status-changes", headers=env.other_officer)
    assert other.status_code == 404
    # the older route is the same change, recorded on the same timeline
    old = await env.v.post(
        f"/v1/beneficiaries/{bid}/status",
        headers=env.officer,
        json={"status": "suspended", "reason": "x"},
    )
    assert old.status_code == 200 and old.json()["status"] == "suspended"
    rows = (await env.v.get(f"/v1/beneficiaries/{bid}/status-changes", headers=env.officer)).json()
    assert rows[-1]["status"] == "suspended" and rows[-1]["effective_on"] == today().isoformat()


async def test_refusals_change_nothing(funded):
    env = funded
    bid = await enrolled(env)
    before = await env.snapshot()
    tomorrow = (today() + timedelta(days=1)).isoformat()
    cases = [
        ({"status": "deceased", "effective_on": tomorrow}, 422, "EFFECTIVE_DATE_IN_FUTURE"),
        ({"status": "deceased", "until": tomorrow}, 422, "INVALID_VALUE"),
        ({"status": "suspended", "to_region_code": OTHER_CITY_DISTRICT}, 422, "INVALID_VALUE"),
        ({"status": "moved", "to_region_code": "999999"}, 422, "INVALID_REGION"),
        ({"status": "moved", "to_region_code": DISTRICT}, 422, "INVALID_VALUE"),
        (
            {"status": "hospitalised", "effective_on": tomorrow, "until": today().isoformat()},
            422,
            "INVALID_VALUE",
        ),
        ({"status": "active"}, 409, "STATUS_TRANSITION_NOT_ALLOWED"),
        ({"status": "gone"}, 422, "VALIDATION_ERROR"),
        ({"status": "deceased", "effective_on": "yesterday"}, 422, "VALIDATION_ERROR"),
        ({"status": "deceased", "reason": ""}, 422, "VALIDATION_ERROR"),
    ]
    for body, status, error in cases:
        r = await change(env, bid, **body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, error), (body, r.text)
    # wrong role, wrong scope, unknown person
    for headers in (
        env.tokens.headers("beneficiary", sub=bid),
        env.tokens.headers("finance", region=CITY),
        env.tokens.headers("auditor", region=CITY),
    ):
        assert (await change(env, bid, headers=headers, status="deceased")).status_code == 403
    wrong = await change(env, bid, headers=env.other_officer, status="deceased")
    nobody = await change(env, str(uuid.uuid4()), status="deceased")
    assert wrong.status_code == nobody.status_code == 404
    assert wrong.json() == nobody.json()
    for headers in (
        env.tokens.headers("beneficiary", sub=bid),
        env.tokens.headers("finance", region=CITY),
    ):
        r = await env.v.get(f"/v1/beneficiaries/{bid}/status-changes", headers=headers)
        assert r.status_code == 403
    assert await env.snapshot() == before
    assert await env.fetchval("SELECT count(*) FROM beneficiary_status_change") == 0


# --- hospital ----------------------------------------------------------------------------------


async def test_a_hospital_stay_pauses_redemption_for_its_days_only(funded):
    env = funded
    bid = await enrolled(env)
    terminal = provider(env)
    r = await change(
        env,
        bid,
        status="hospitalised",
        effective_on=(today() - timedelta(days=2)).isoformat(),
        until=(today() + timedelta(days=5)).isoformat(),
        evidence_ref="住院证明",
    )
    assert r.status_code == 201 and r.json()["current_status"] == "hospitalised"
    refused = await redeem(env, terminal, bid)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "BENEFICIARY_PAUSED"
    assert await env.fetchval("SELECT count(*) FROM redemption") == 0
    me = await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.officer)
    assert me.json()["current_status"] == "hospitalised" and me.json()["status"] == "active"
    # a voucher issued during the stay carries it too (trigger voucher_guard_beneficiary)
    assert await env.fetchval(
        "SELECT bool_and(paused_from IS NOT NULL) FROM voucher WHERE beneficiary_id = $1",
        uuid.UUID(bid),
    )
    # discharged today: usable at once, the stay ends yesterday
    r = await change(env, bid, status="active", reason="出院")
    assert r.status_code == 201 and r.json()["current_status"] == "active"
    ok = await redeem(env, terminal, bid)
    assert ok.status_code == 201, ok.text
    stays = (await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.officer)).json()
    assert stays["paused_until"] == (today() - timedelta(days=1)).isoformat()
    # a stay that starts in the future (planned admission) does not pause today
    r = await change(
        env, bid, status="hospitalised", effective_on=(today() + timedelta(days=3)).isoformat()
    )
    assert r.status_code == 201 and r.json()["current_status"] == "active"
    assert (await redeem(env, terminal, bid)).status_code == 201
    await assert_books_agree(env)


# --- death ---------------------------------------------------------------------------------


async def test_a_death_revokes_every_voucher_releases_the_balance_and_ends_proxies(funded):
    env = funded
    bid = await enrolled(env)
    terminal = provider(env)
    assert (await redeem(env, terminal, bid, gross=6000)).status_code == 201  # 3,000 subsidy
    r = await env.v.post(
        f"/v1/beneficiaries/{bid}/proxies",
        headers=env.officer,
        json={"proxy_sub": "family:1", "name": "李四", "relation": "女儿"},
    )
    assert r.status_code == 201, r.text
    await deliver(env)
    available_before = await env.available()

    key = {**env.officer, "Idempotency-Key": "death-1"}
    body = {
        "status": "deceased",
        "effective_on": today().isoformat(),
        "reason": "病故",
        "evidence_ref": "死亡证明 45-01",
    }
    r = await env.v.post(f"/v1/beneficiaries/{bid}/status-changes", headers=key, json=body)
    assert r.status_code == 201, r.text
    died = r.json()
    assert died["current_status"] == "deceased" and died["recovery_redemption_ids"] == []
    assert died["vouchers_ended"] == 1 and died["released_fen"] == FACE - 3000
    # a retry with the same key answers the same change and moves no money again
    again = await env.v.post(f"/v1/beneficiaries/{bid}/status-changes", headers=key, json=body)
    assert again.status_code == 201 and again.json()["id"] == died["id"]
    assert [tuple(v)[1:4] for v in await vouchers(env, bid)] == [("revoked", 0, FACE - 3000)]
    assert (
        await env.fetchval(
            "SELECT count(*) FROM outbox WHERE type = 'voucher.expired' AND payload->>'beneficiary_id' = $1",
            bid,
        )
        == 1
    )
    # the release posts in the ledger: budget back, outstanding down, books agree
    await deliver(env)
    assert await env.available() == available_before + FACE - 3000
    await assert_books_agree(env)
    # proxies end, codes and redemptions stop, nothing more can be recorded
    proxies = (await env.v.get(f"/v1/beneficiaries/{bid}/proxies", headers=env.officer)).json()
    assert [p["status"] for p in proxies] == ["revoked"]
    me = env.tokens.headers("beneficiary", sub=bid)
    no_code = await env.v.post(f"/v1/beneficiaries/{bid}/codes", headers=me)
    assert no_code.json()["error"]["code"] == "BENEFICIARY_DECEASED"
    from services.common.dev_keys import DEV_QR_PRIVATE_KEY
    from services.voucher.service import codes

    token = codes.issue_dynamic(DEV_QR_PRIVATE_KEY, uuid.UUID(bid), 60).text
    refused = await env.v.post(
        "/v1/redemptions",
        headers=terminal,
        json={
            "token": token,
            "service_code": "CARE_BATH",
            "gross_fen": 6000,
            "idempotency_key": f"k-{uuid.uuid4().hex}",
        },
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "BENEFICIARY_DECEASED"
    for status in ("active", "deceased", "exited", "hospitalised"):
        r = await change(env, bid, status=status)
        assert r.status_code == 409 and r.json()["error"]["code"] == "STATUS_TRANSITION_NOT_ALLOWED"
    # issuance never again: the run skips the person; a voucher inserted anyway (an issuance
    # racing the death) is born revoked and its amount released (trigger)
    run = await env.v.post(
        "/v1/issuance-runs",
        headers=env.officer,
        json={"program_code": "disability_subsidy", "period": _next_period(), "region_code": CITY},
    )
    assert run.status_code == 200, run.text
    assert (
        await env.fetchval("SELECT count(*) FROM voucher WHERE beneficiary_id = $1", uuid.UUID(bid))
        == 1
    )
    conn = await env.db()
    try:
        born = await conn.fetchrow(
            """INSERT INTO voucher (id, beneficiary_id, program_code, program_version, period,
                   face_fen, balance_fen, valid_from, valid_until, region_code,
                   budget_region_code, care_setting, funding_shares, allowed_kinds,
                   allowed_categories)
               SELECT gen_random_uuid(), beneficiary_id, program_code, 1, '2030-01', 100,
                      100, now(), now() + interval '1 day', region_code, budget_region_code,
                      care_setting, funding_shares, allowed_kinds, allowed_categories
                 FROM voucher WHERE beneficiary_id = $1
               RETURNING id, status, balance_fen, released_fen""",
            uuid.UUID(bid),
        )
        assert tuple(born)[1:] == ("revoked", 0, 100)
        event = await conn.fetchval(
            "SELECT payload FROM outbox WHERE type = 'voucher.expired' "
            "AND payload->>'voucher_id' = $1",
            str(born["id"]),
        )
        assert event is not None and '"released_fen": 100' in event
    finally:
        await conn.close()


async def test_a_void_after_the_death_the_same_day_releases_the_subsidy_to_the_budget(funded):
    """Lunch paid at noon, the death recorded at two (the voucher revoked, its balance released),
    the cashier voids the lunch at four: the subsidy must not come back onto a voucher no one
    may spend, stranded in vouchers outstanding; it goes back to the budget with the rest."""
    env = funded
    bid = await enrolled(env)
    terminal = provider(env)
    paid = await redeem(env, terminal, bid, gross=6000)  # 3,000 subsidy
    assert paid.status_code == 201, paid.text
    await deliver(env)
    available = await env.available()
    died = await change(env, bid, status="deceased", effective_on=today().isoformat())
    assert died.status_code == 201 and died.json()["released_fen"] == FACE - 3000
    await deliver(env)
    assert await env.available() == available + FACE - 3000

    void = await env.v.post(
        f"/v1/redemptions/{paid.json()['id']}/void", headers=terminal, json={"reason": "录错"}
    )
    assert void.status_code == 200, void.text
    assert void.json()["balance_fen"] == 0
    assert [tuple(v)[1:4] for v in await vouchers(env, bid)] == [("revoked", 0, FACE)]
    # voiding again changes nothing: no second release
    again = await env.v.post(
        f"/v1/redemptions/{paid.json()['id']}/void", headers=terminal, json={"reason": "录错"}
    )
    assert again.status_code == 200 and again.json()["already_voided"] is True
    releases = await env.fetch(
        "SELECT (payload->>'released_fen')::int AS fen FROM outbox "
        "WHERE type = 'voucher.expired' AND payload->>'beneficiary_id' = $1 ORDER BY id",
        bid,
    )
    assert [r["fen"] for r in releases] == [FACE - 3000, 3000]
    await deliver(env)
    assert await env.available() == available + FACE  # all of the face value back
    assert await outstanding(env) == 0
    await assert_books_agree(env)


async def test_a_void_racing_the_death_leaves_nothing_on_the_voucher(funded):
    """The cashier's void and the officer's death record at the same moment, on their own
    connections: whichever commits first, the voucher ends revoked with nothing on it and the
    whole face value back in the budget, once."""
    env = funded
    bid = await enrolled(env)
    terminal = provider(env)
    paid = await redeem(env, terminal, bid, gross=6000)  # 3,000 subsidy
    assert paid.status_code == 201, paid.text
    await deliver(env)
    available = await env.available()
    void, died = await asyncio.gather(
        env.v.post(
            f"/v1/redemptions/{paid.json()['id']}/void", headers=terminal, json={"reason": "录错"}
        ),
        change(env, bid, status="deceased", effective_on=today().isoformat()),
    )
    assert void.status_code == 200, void.text
    assert died.status_code == 201, died.text
    assert [tuple(v)[1:4] for v in await vouchers(env, bid)] == [("revoked", 0, FACE)]
    await deliver(env)
    assert await env.available() == available + FACE
    assert await outstanding(env) == 0
    await assert_books_agree(env)


def _next_period() -> str:
    first = date.fromisoformat(current_period() + "-01")
    nxt = (first + timedelta(days=32)).replace(day=1)
    return f"{nxt:%Y-%m}"


async def _recovery_counts(env: Env) -> tuple[int, int, int]:
    """Recoveries, their outbox events, and alerts (a death's recovery raises none)."""
    return (
        await env.fetchval("SELECT count(*) FROM recovery"),
        await env.fetchval("SELECT count(*) FROM outbox WHERE type = 'redemption.recovered'"),
        await env.fetchval("SELECT count(*) FROM alert"),
    )


async def test_a_death_recorded_late_recovers_exactly_the_later_redemptions_once(funded):
    env = funded
    national_id = make_national_id()
    bid, other = await enrolled(env, national_id=national_id), await enrolled(env)
    terminal = provider(env)
    made = []
    for gross in (2000, 4000, 6000):
        r = await redeem(env, terminal, bid, gross)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    voided = await env.v.post(
        f"/v1/redemptions/{made[0]}/void", headers=terminal, json={"reason": "录错"}
    )
    assert voided.status_code == 200, voided.text
    assert (await redeem(env, terminal, other)).status_code == 201  # someone else's
    await deliver(env)  # the redemptions are on the ledger's books before the death
    # the death certificate says yesterday: today's redemptions came after it
    died_on = (today() - timedelta(days=1)).isoformat()
    body = {"status": "deceased", "effective_on": died_on, "evidence_ref": "死亡医学证明 0042"}
    keyed = {**env.officer, "Idempotency-Key": "death-0042"}
    r = await change(env, bid, headers=keyed, **body)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert sorted(answer["recovery_redemption_ids"]) == sorted(made[1:])
    recoveries = answer["recoveries"]
    assert sorted(x["redemption_id"] for x in recoveries) == sorted(made[1:])
    assert {x["subsidy_fen"] for x in recoveries} == {2000, 3000}
    # not claimed yet: off the provider's payable; the person is dead: back to the budget;
    # no alert behind it and no fault
    assert {(x["mode"], x["destination"], x["alert_id"], x["at_fault"]) for x in recoveries} == {
        ("payable", "budget", None, False)
    }
    assert await _recovery_counts(env) == (2, 2, 0)
    # the voided one paid nothing; the other person's is not theirs
    assert (
        await env.fetchval(
            "SELECT count(*) FROM recovery WHERE redemption_id = $1", uuid.UUID(made[0])
        )
        == 0
    )
    # released: what was left after those redemptions
    assert answer["released_fen"] == FACE - 2000 - 3000

    # The ledger posts each recovery once, when the relay runs.
    await deliver(env)
    rows = await env.ledger_fetch(
        "SELECT ref, kind, memo FROM entry WHERE kind IN "
        "('redemption_recovery', 'recovery_receivable') ORDER BY ref"
    )
    assert sorted(r["ref"] for r in rows) == sorted(made[1:])
    assert {r["kind"] for r in rows} == {"redemption_recovery"}
    assert {r["memo"].split(" ")[0] for r in rows} == {f"recovery:{x['id']}" for x in recoveries}
    await assert_books_agree(env)

    # The same request again (same key): the first answer, nothing recovered again.
    again = await change(env, bid, headers=keyed, **body)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == answer["id"]
    assert {x["id"] for x in again.json()["recoveries"]} == {x["id"] for x in recoveries}
    # Without the key: a death is final, refused, nothing moves.
    refused = await change(env, bid, **body)
    assert refused.status_code == 409, refused.text
    # The same death re-imported from the public-security file: unchanged.
    content = f"national_id,event,date\n{national_id},死亡,{died_on}\n".encode()
    imported = await env.v.post(
        "/v1/status-imports", headers=env.officer, files={"file": ("deaths.csv", content)}
    )
    assert imported.status_code == 200, imported.text
    assert [row["status"] for row in imported.json()["rows"]] == ["unchanged"]
    assert await _recovery_counts(env) == (2, 2, 0)
    await deliver(env)
    assert (
        await env.ledger_fetchval(
            "SELECT count(*) FROM entry WHERE kind IN "
            "('redemption_recovery', 'recovery_receivable')"
        )
        == 2
    )
    await assert_books_agree(env)


async def test_a_death_imported_late_recovers_the_later_redemptions(funded):
    """The status file records deaths through the same call: the same recovery."""
    env = funded
    national_id = make_national_id()
    bid = await enrolled(env, national_id=national_id)
    terminal = provider(env)
    r = await redeem(env, terminal, bid, 4000)
    assert r.status_code == 201, r.text
    died_on = (today() - timedelta(days=2)).isoformat()
    content = f"national_id,event,date\n{national_id},死亡,{died_on}\n".encode()
    for expected in ("applied", "unchanged"):
        imported = await env.v.post(
            "/v1/status-imports", headers=env.officer, files={"file": ("deaths.csv", content)}
        )
        assert imported.status_code == 200, imported.text
        assert [row["status"] for row in imported.json()["rows"]] == [expected]
    recovered = await env.fetch("SELECT redemption_id, destination, alert_id FROM recovery")
    assert [(str(x[0]), x[1], x[2]) for x in recovered] == [(r.json()["id"], "budget", None)]
    await assert_books_agree(env)


async def test_a_hospital_stay_recorded_late_raises_the_hospital_alert(funded):
    """REDEEM refuses redemptions inside a stay already recorded; a stay recorded after the
    fact (the hospital's file arrives late) leaves them to the detector: the redemption made
    today, inside a stay that began yesterday, is raised as `during_hospital` with that
    redemption as evidence. A stay beginning today (the day of admission is allowed) raises
    nothing."""
    from services.voucher.service.anomalies import detect_once

    env = funded
    inside, admitted_today = await enrolled(env), await enrolled(env)
    terminal = provider(env)
    made = {}
    for bid in (inside, admitted_today):
        r = await redeem(env, terminal, bid)
        assert r.status_code == 201, r.text
        made[bid] = r.json()["id"]
    r = await change(
        env,
        inside,
        status="hospitalised",
        effective_on=(today() - timedelta(days=1)).isoformat(),
        until=(today() + timedelta(days=3)).isoformat(),
        evidence_ref="住院证明 7",
    )
    assert r.status_code == 201, r.text
    r = await change(env, admitted_today, status="hospitalised")
    assert r.status_code == 201, r.text
    async with env.app.state.db.unit_of_work() as session:
        done = await detect_once(session, env.app.state.directory, settle_s=0.0)
    assert done.by_rule.get("during_hospital") == 1, done
    rows = await env.fetch(
        "SELECT subject_id, evidence::text AS evidence FROM alert WHERE rule_code = $1",
        "during_hospital",
    )
    assert [x["subject_id"] for x in rows] == [inside]
    assert made[inside] in rows[0]["evidence"] and made[admitted_today] not in rows[0]["evidence"]


async def test_a_death_dated_today_hands_nothing_on(funded):
    env = funded
    bid = await enrolled(env)
    terminal = provider(env)
    assert (await redeem(env, terminal, bid)).status_code == 201
    r = await change(env, bid, status="deceased")
    assert r.status_code == 201 and r.json()["recovery_redemption_ids"] == []


async def test_no_redemption_succeeds_after_a_racing_death_commits(funded):
    """Twenty redemptions race the recording of a death, each on its own connection. Those
    that succeed finished before the death's commit (they hold the voucher's lock first);
    the money adds up to the face value (spent + released), and every request sent after the
    death's answer is refused."""
    env = funded
    bid = await enrolled(env)
    terminal = provider(env)
    tokens = [await code(env, bid) for _ in range(20)]

    async def one(token: str) -> Any:
        return await env.v.post(
            "/v1/redemptions",
            headers=terminal,
            json={
                "token": token,
                "service_code": "CARE_BATH",
                "gross_fen": 1000,
                "idempotency_key": f"r-{token[-12:]}",
            },
        )

    racing = [asyncio.create_task(one(t)) for t in tokens[:15]]
    death = asyncio.create_task(change(env, bid, status="deceased"))
    results = await asyncio.gather(*racing)
    died = await death
    assert died.status_code == 201, died.text
    after = [await one(t) for t in tokens[15:]]
    assert all(r.json()["error"]["code"] == "BENEFICIARY_DECEASED" for r in after)
    ok = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    # refused because the person died (or, on a crowded test server, 503: try again later)
    assert all(
        r.status_code == 503
        or r.json()["error"]["code"] in ("BENEFICIARY_DECEASED", "BENEFICIARY_NOT_ACTIVE")
        for r in refused
    ), [r.text for r in refused]
    spent = await env.fetchval(
        "SELECT coalesce(sum(subsidy_fen), 0) FROM redemption WHERE beneficiary_id = $1",
        uuid.UUID(bid),
    )
    assert spent == 500 * len(ok)
    assert spent + died.json()["released_fen"] == FACE
    # every successful redemption was written before the voucher was revoked
    revoked_at = await env.fetchval(
        "SELECT updated_at FROM voucher WHERE beneficiary_id = $1 AND status = 'revoked'",
        uuid.UUID(bid),
    )
    latest = await env.fetchval(
        "SELECT max(created_at) FROM redemption WHERE beneficiary_id = $1", uuid.UUID(bid)
    )
    assert latest is None or latest <= revoked_at
    await assert_books_agree(env)


# --- move and exit ----------------------------------------------------------------------------


async def test_a_move_ends_the_old_regions_vouchers_and_hands_the_person_over(funded):
    env = funded
    await env.appropriate(10_000_000, region=OTHER_CITY)
    bid = await enrolled(env)
    old_terminal = provider(env, DISTRICT)
    new_terminal = provider(env, OTHER_CITY_DISTRICT)
    assert (await redeem(env, old_terminal, bid, gross=2000)).status_code == 201
    await deliver(env)
    available = await env.available()
    r = await change(
        env,
        bid,
        status="moved",
        to_region_code=OTHER_CITY_DISTRICT,
        reason="随子女迁居柳州",
        evidence_ref="户口迁移证",
    )
    assert r.status_code == 201, r.text
    moved = r.json()
    assert (moved["current_status"], moved["region_code"]) == ("active", OTHER_CITY_DISTRICT)
    assert (moved["from_region_code"], moved["to_region_code"]) == (DISTRICT, OTHER_CITY_DISTRICT)
    assert moved["released_fen"] == FACE - 1000
    assert [tuple(v)[1:4] for v in await vouchers(env, bid)] == [("expired", 0, FACE - 1000)]
    await deliver(env)
    assert await env.available() == available + FACE - 1000  # back to Nanning's budget
    await assert_books_agree(env)
    # the old voucher cannot be spent, neither in the old region nor the new one
    for terminal in (old_terminal, new_terminal):
        refused = await redeem(env, terminal, bid)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "NO_USABLE_VOUCHER"
    # the old region's officer lost the person, the new region's has them
    gone = await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.officer)
    assert gone.status_code == 404
    here = await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.other_officer)
    assert here.status_code == 200 and here.json()["region_code"] == OTHER_CITY_DISTRICT
    timeline = await env.v.get(f"/v1/beneficiaries/{bid}/status-changes", headers=env.other_officer)
    assert [c["status"] for c in timeline.json()] == ["moved"]
    # not issued twice for this month; issued in the new region from the next
    run = {
        "program_code": "disability_subsidy",
        "period": current_period(),
        "region_code": OTHER_CITY,
    }
    r = await env.v.post("/v1/issuance-runs", headers=env.other_officer, json=run)
    assert r.status_code == 200, r.text
    assert (
        await env.fetchval("SELECT count(*) FROM voucher WHERE beneficiary_id = $1", uuid.UUID(bid))
        == 1
    )
    r = await env.v.post(
        "/v1/issuance-runs", headers=env.other_officer, json={**run, "period": _next_period()}
    )
    assert r.status_code == 200, r.text
    new = await env.fetch(
        "SELECT region_code FROM voucher WHERE beneficiary_id = $1 AND period = $2",
        uuid.UUID(bid),
        _next_period(),
    )
    assert [v["region_code"] for v in new] == [OTHER_CITY_DISTRICT]


async def test_leaving_the_province_and_exiting_end_the_vouchers_and_allow_a_return(funded):
    env = funded
    left, out = await enrolled(env), await enrolled(env)
    r = await change(env, left, status="moved", reason="迁出广西")
    assert r.status_code == 201 and r.json()["current_status"] == "moved"
    r = await change(env, out, status="exited", reason="本人申请退出")
    assert r.status_code == 201 and r.json()["current_status"] == "exited"
    assert r.json()["released_fen"] == FACE
    assert {tuple(v)[1] for v in await vouchers(env, left)} == {"expired"}
    assert {tuple(v)[1] for v in await vouchers(env, out)} == {"revoked"}
    await assert_books_agree(env)
    back = await change(env, out, status="active", reason="重新申请")
    assert back.status_code == 201 and back.json()["current_status"] == "active"


async def test_the_timeline_is_append_only_for_the_service(funded):
    """The service's own database role may add to the timeline, never change or remove it."""
    from services.common.db import asyncpg_connect_kwargs

    env = funded
    bid = await enrolled(env)
    assert (await change(env, bid, status="suspended")).status_code == 201
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(env.vdb.app_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE beneficiary_status_change SET reason = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM beneficiary_status_change")
    finally:
        await conn.close()
    assert await env.fetchval("SELECT count(*) FROM beneficiary_status_change") == 1


async def test_a_death_does_not_deadlock_with_a_redemption_holding_the_voucher(funded):
    """A redemption locks its voucher, then (inserting its row) checks the person's key; a
    death locks the person, then the vouchers. The death's lock on the person must leave
    that key check alone, or the two deadlock and one is refused (RETRY_LATER)."""
    env = funded
    bid = uuid.UUID(await enrolled(env))
    redeeming = await env.db()
    watcher = await env.db()
    try:
        tx = redeeming.transaction()
        await tx.start()
        await redeeming.execute("SELECT id FROM voucher WHERE beneficiary_id = $1 FOR UPDATE", bid)
        death = asyncio.create_task(change(env, str(bid), status="deceased"))
        # wait until the death holds the person and waits for the voucher
        for _ in range(200):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the death never waited for the voucher"
        # what the redemption's foreign-key check does as it inserts its row
        await redeeming.execute("SET LOCAL lock_timeout = '5s'")
        await redeeming.fetchval("SELECT 1 FROM beneficiary WHERE id = $1 FOR KEY SHARE", bid)
        await tx.commit()
        died = await death
        assert died.status_code == 201, died.text
    finally:
        await redeeming.close()
        await watcher.close()
