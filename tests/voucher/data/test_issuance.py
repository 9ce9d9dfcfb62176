"""Issuance runs against the REAL ledger app: idempotent, budget-bounded, resumable, racing
runs, cash benefits, lapse releasing the unused balance."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest

from services.voucher.repository import issuance as issuance_repo
from services.voucher.service import periods
from tests.voucher.data.conftest import (
    CITY,
    DISTRICT,
    OTHER_CITY,
    OTHER_DISTRICT,
    make_national_id,
    person,
)

FACE = 50_000  # home care, disability subsidy


async def enrol_many(
    env,
    n: int,
    region: str = DISTRICT,
    birth: date = date(1950, 3, 15),
    assessed_on: str | None = None,
    scores=(15, 8, 10, 7),
    tekun: bool = False,
    hukou: str = "",
) -> list[str]:
    """Enrol n people in one CSV import (their first month is attempted at once too)."""
    header = (
        "national_id,name,phone,region_code,address,care_setting,dibao,self_care,motor,"
        "mental,perception_social,assessed_on,assessor,tekun,hukou_region_code\n"
    )
    on = assessed_on or date.today().isoformat()
    lines = [
        f"{make_national_id(birth)},老人,,{region},地址,home,0,"
        f"{scores[0]},{scores[1]},{scores[2]},{scores[3]},{on},中心,{int(tekun)},{hukou}\n"
        for _ in range(n)
    ]
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={"file": ("p.csv", (header + "".join(lines)).encode())},
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == n, r.text
    return [row["id"] for row in r.json()["rows"]]


async def run(env, program="disability_subsidy", region=CITY, period=None, headers=None):
    return await env.v.post(
        "/v1/issuance-runs",
        headers=headers or env.officer,
        json={"program_code": program, "period": period or env.period, "region_code": region},
    )


async def test_run_issues_once_and_running_again_issues_nothing_new(env):
    ids = await enrol_many(env, 7)
    await enrol_many(env, 2, region=OTHER_DISTRICT)
    # not eligible: too young, grade 1, expired assessment
    await enrol_many(env, 1, birth=date(1970, 1, 1))
    await enrol_many(env, 1, scores=(30, 15, 25, 15))  # grade 1
    await enrol_many(env, 1, assessed_on="2025-01-01")  # assessment expired
    await env.appropriate(10_000_000)
    first = await run(env)
    assert first.status_code == 200, first.text
    out = first.json()
    assert (out["eligible"], out["issued"], out["skipped"], out["failed"]) == (9, 9, 0, 0)
    assert out["status"] == "completed"
    assert await env.available() == 10_000_000 - 9 * FACE
    entries = await env.ledger_fetchval("SELECT count(*) FROM entry")

    again = (await run(env)).json()
    assert (again["issued"], again["skipped"], again["failed"]) == (0, 9, 0)
    assert await env.fetchval("SELECT count(*) FROM voucher") == 9
    assert await env.available() == 10_000_000 - 9 * FACE
    assert await env.ledger_fetchval("SELECT count(*) FROM entry") == entries

    # one district's run covers only that district
    district = (await run(env, region=OTHER_DISTRICT)).json()
    assert (district["eligible"], district["issued"], district["skipped"]) == (2, 0, 2)

    # progress is readable
    progress = await env.v.get(f"/v1/issuance-runs/{out['run_id']}", headers=env.officer)
    assert progress.status_code == 200
    p = progress.json()
    assert (p["status"], p["issued"], p["chunks_done"], p["program_version"]) == (
        "completed",
        9,
        3 + 1,
        1,
    )  # 7 in 450103 -> 3 chunks of <=3, 2 in 450105 -> 1
    v = await env.fetch(
        "SELECT DISTINCT budget_region_code, period, valid_from, valid_until FROM voucher"
    )
    assert len(v) == 1 and v[0]["budget_region_code"] == CITY
    from zoneinfo import ZoneInfo

    local = v[0]["valid_from"].astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.day, local.hour, f"{local:%Y-%m}") == (1, 0, env.period)
    assert ids


async def test_budget_exhausted_stops_cleanly_and_reports_counts(env):
    await enrol_many(env, 5)
    await env.appropriate(4 * FACE)  # room for one chunk of 3, not for the next 2... +1 spare
    out = (await run(env)).json()
    assert out["status"] == "budget_exhausted"
    assert (out["eligible"], out["issued"], out["skipped"], out["failed"]) == (5, 3, 0, 2)
    assert await env.fetchval("SELECT count(*) FROM voucher") == 3
    assert await env.available() == FACE
    assert (
        await env.fetchval(
            "SELECT count(*) FROM issuance_chunk WHERE status = 'refused' AND run_id = $1",
            uuid.UUID(out["run_id"]),
        )
        == 1
    )
    # more budget: the next run picks up exactly the two who were left out
    await env.appropriate(2 * FACE)
    out = (await run(env)).json()
    assert (out["issued"], out["skipped"], out["failed"]) == (2, 3, 0)
    assert await env.available() == FACE


async def test_two_racing_runs_issue_one_voucher_each_and_commit_budget_once(env):
    await enrol_many(env, 8)
    await enrol_many(env, 3, region=OTHER_DISTRICT)
    await env.appropriate(10_000_000)
    results = await asyncio.gather(run(env), run(env), run(env, region=DISTRICT))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sum(r.json()["issued"] for r in results) == 11
    assert await env.fetchval("SELECT count(*) FROM voucher") == 11
    assert await env.fetchval("SELECT count(DISTINCT beneficiary_id) FROM voucher") == 11
    assert await env.available() == 10_000_000 - 11 * FACE
    committed = await env.fetchval(
        "SELECT coalesce(sum(amount_fen), 0) FROM issuance_chunk WHERE status = 'done'"
    )
    assert committed == 11 * FACE


async def test_a_run_killed_between_ledger_and_insert_resumes_without_committing_twice(
    env, monkeypatch
):
    await enrol_many(env, 5)
    await env.appropriate(10_000_000)
    real_insert = issuance_repo.insert_vouchers
    calls = {"n": 0}

    async def dies_on_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise asyncio.CancelledError()  # the process dies right after the ledger answered
        return await real_insert(*args, **kwargs)

    monkeypatch.setattr(issuance_repo, "insert_vouchers", dies_on_second_chunk)
    engine = env.app.state.issuance_engine
    with pytest.raises(asyncio.CancelledError):
        await engine.run(
            program_code="disability_subsidy", period=env.period, region_code=CITY, who="test"
        )
    # the ledger committed both chunks, the vouchers of the second are missing
    assert await env.available() == 10_000_000 - 5 * FACE
    assert await env.fetchval("SELECT count(*) FROM voucher") == 3
    assert await env.fetchval("SELECT count(*) FROM issuance_chunk WHERE status = 'intent'") == 1
    monkeypatch.setattr(issuance_repo, "insert_vouchers", real_insert)
    # meanwhile the program's funding shares change: the resumed chunk must still ask the
    # ledger with exactly the body it first sent (else the ledger refuses the reused key)
    config = (await env.v.get("/v1/programs/disability_subsidy", headers=env.officer)).json()[
        "config"
    ]
    config["funding_shares"] = {"central": 9000, "regional": 1000}
    put = await env.v.put(
        "/v1/programs/disability_subsidy",
        headers=env.province,
        json={"config": config, "reason": "新的分担比例"},
    )
    assert put.status_code == 200, put.text

    out = (await run(env)).json()
    assert (out["issued"], out["failed"]) == (2, 0)
    assert await env.fetchval("SELECT count(*) FROM voucher") == 5
    assert await env.available() == 10_000_000 - 5 * FACE  # not committed twice
    shares = {r["s"] for r in await env.fetch("SELECT funding_shares::text AS s FROM voucher")}
    assert shares == {'{"central": 9500, "regional": 500}'}
    assert (
        await env.fetchval(
            "SELECT count(*) FROM issuance_chunk WHERE status IN ('intent', 'committed')"
        )
        == 0
    )
    statuses = {
        r["status"]
        for r in await env.fetch("SELECT status FROM issuance_run WHERE trigger = 'run'")
    }
    assert statuses == {"interrupted", "completed"}


async def test_ledger_down_interrupts_the_run_and_a_retry_resumes(env):
    await enrol_many(env, 2)
    await env.appropriate(10_000_000)
    real = env.app.state.ledger.http
    env.app.state.ledger.http = _Broken()
    r = await run(env)
    assert r.status_code == 503 and r.json()["error"]["code"] == "LEDGER_UNAVAILABLE"
    assert await env.fetchval("SELECT count(*) FROM voucher") == 0
    env.app.state.ledger.http = real
    out = (await run(env)).json()
    assert out["issued"] == 2
    assert await env.available() == 10_000_000 - 2 * FACE


class _Broken:
    async def post(self, *a, **k):
        import httpx

        raise httpx.ConnectError("down")


async def test_nursing_subsidy_is_a_cash_benefit_with_an_outbox_event(env):
    await env.appropriate(10_000_000, program="nursing_subsidy")
    await env.appropriate(10_000_000)
    await env.appropriate(10_000_000, program="meal_assistance")
    b = await env.enrol(dibao=True, birth=date(1950, 1, 1))
    assert "nursing_subsidy" in b["eligible_programs"]
    assert b["cash_benefits"] == ["nursing_subsidy"]
    young = await env.enrol(dibao=True, birth=date(1960, 1, 1))  # 66: not eligible
    assert "nursing_subsidy" not in young["eligible_programs"]
    rows = await env.fetch("SELECT * FROM cash_benefit")
    assert [(r["amount_fen"], str(r["beneficiary_id"])) for r in rows] == [(20_000, b["id"])]
    events = await env.fetch("SELECT type, payload FROM outbox WHERE type = 'cash_benefit.issued'")
    assert len(events) == 1
    import json

    payload = json.loads(events[0]["payload"])
    assert payload["amount_fen"] == 20_000 and payload["beneficiary_id"] == b["id"]
    assert payload["budget_region_code"] == CITY and payload["region_code"] == DISTRICT
    assert payload["funding_shares"] == {"central": 9500, "regional": 500}
    assert await env.available("nursing_subsidy") == 10_000_000 - 20_000
    # no voucher for a cash benefit, and a run issues nothing new
    assert (
        await env.fetchval("SELECT count(*) FROM voucher WHERE program_code = 'nursing_subsidy'")
        == 0
    )
    out = (await run(env, program="nursing_subsidy")).json()
    assert (out["issued"], out["skipped"]) == (0, 1)
    cb = await env.v.get(f"/v1/beneficiaries/{b['id']}/cash-benefits", headers=env.officer)
    assert [x["amount_fen"] for x in cb.json()] == [20_000]


async def test_lapsed_vouchers_expire_and_release_the_unused_balance(env):
    await env.appropriate(10_000_000)
    await env.appropriate(10_000_000, program="meal_assistance")
    b = await env.enrol()
    bid = uuid.UUID(b["id"])
    conn = await env.db()
    try:
        # the month is over; 12,345 fen of the disability voucher were spent
        await conn.execute(
            "UPDATE voucher SET valid_until = now() - interval '1 second', "
            "balance_fen = balance_fen - 12345 WHERE beneficiary_id = $1 "
            "AND program_code = 'disability_subsidy'",
            bid,
        )
    finally:
        await conn.close()
    r = await env.v.post("/v1/vouchers/expire", headers=env.province)
    assert r.status_code == 200
    assert r.json() == {"expired": 1, "events": 1, "released_fen": FACE - 12345}
    v = (
        await env.fetch(
            "SELECT status, balance_fen, released_fen FROM voucher "
            "WHERE program_code = 'disability_subsidy'"
        )
    )[0]
    assert tuple(v) == ("expired", 0, FACE - 12345)
    ev = await env.fetch("SELECT payload FROM outbox WHERE type = 'voucher.expired'")
    import json

    payload = json.loads(ev[0]["payload"])
    assert payload["released_fen"] == FACE - 12345
    assert payload["voucher_id"] and payload["budget_region_code"] == CITY
    # idempotent: nothing more to expire; the still-valid meal voucher is untouched
    assert (await env.v.post("/v1/vouchers/expire", headers=env.province)).json()["expired"] == 0
    assert (
        await env.fetchval("SELECT status FROM voucher WHERE program_code = 'meal_assistance'")
        == "active"
    )
    # only a province-level officer (or a service) may trigger it
    assert (await env.v.post("/v1/vouchers/expire", headers=env.officer)).status_code == 403
    # the database refuses a released amount on a voucher that did not lapse
    conn = await env.db()
    try:
        import asyncpg

        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE voucher SET released_fen = 1 WHERE status = 'active'")
    finally:
        await conn.close()


async def test_bad_run_input_wrong_role_and_scope_change_nothing(env, tokens):
    await enrol_many(env, 2)
    await env.appropriate(10_000_000)
    before = await env.snapshot()
    cases = [
        (
            {"program_code": "golf_subsidy", "period": env.period, "region_code": CITY},
            404,
            "PROGRAM_NOT_FOUND",
            "program_code",
        ),
        (
            {"program_code": "disability_subsidy", "period": "2026-13", "region_code": CITY},
            422,
            "INVALID_PERIOD",
            "period",
        ),
        (
            {"program_code": "disability_subsidy", "period": "26-11", "region_code": CITY},
            422,
            "INVALID_PERIOD",
            "period",
        ),
        (  # a year no programme runs in (and before which a date cannot be written)
            {"program_code": "disability_subsidy", "period": "0000-01", "region_code": CITY},
            422,
            "INVALID_PERIOD",
            "period",
        ),
        (
            {"program_code": "disability_subsidy", "period": env.period, "region_code": "999999"},
            422,
            "INVALID_REGION",
            "region_code",
        ),
        (
            {"program_code": "disability_subsidy", "period": env.period},
            422,
            "VALIDATION_ERROR",
            "region_code",
        ),
        (
            {
                "program_code": "disability_subsidy",
                "period": env.period,
                "region_code": CITY,
                "force": True,
            },
            422,
            "VALIDATION_ERROR",
            "force",
        ),
    ]
    for body, status, code, field in cases:
        r = await env.v.post("/v1/issuance-runs", headers=env.officer, json=body)
        assert r.status_code == status, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field)
    # every read that takes a period refuses one no programme runs in, rather than failing
    for url, params in (
        ("/v1/issuance-preview", {"program_code": "disability_subsidy", "region_code": CITY}),
        ("/v1/issuance-schedule", {}),
        ("/v1/dashboard", {"region_code": CITY}),
    ):
        for period in ("0000-01", "0001-01", "9999-12"):
            r = await env.v.get(url, headers=env.officer, params={**params, "period": period})
            assert r.status_code == 422, (url, period, r.text)
            assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (
                "INVALID_PERIOD",
                "period",
            ), (url, period)
    assert (await run(env, region=OTHER_CITY)).status_code == 403  # outside scope
    assert (await run(env, region="450000")).status_code == 403  # wider than scope
    for role in ("finance", "auditor", "provider_admin", "beneficiary"):
        r = await run(env, headers=tokens.headers(role, region="450000"))
        assert r.status_code == 403, role
    assert (await env.v.post("/v1/issuance-runs", json={})).status_code == 401
    assert await env.snapshot() == before
    # progress: unknown run 404, other region 403
    ok = (await run(env)).json()
    assert (
        await env.v.get(f"/v1/issuance-runs/{uuid.uuid4()}", headers=env.officer)
    ).status_code == 404
    for url in ("/v1/issuance-runs/not-a-run", "/v1/beneficiaries/not-a-person/vouchers"):
        r = await env.v.get(url, headers=env.officer)
        assert r.status_code == 422 and r.json()["error"]["field"] in ("run_id", "beneficiary_id")
    assert (
        await env.v.get(f"/v1/issuance-runs/{ok['run_id']}", headers=env.other_officer)
    ).status_code == 403
    assert (
        await env.v.get(f"/v1/issuance-runs/{ok['run_id']}", headers=tokens.headers("beneficiary"))
    ).status_code == 403


def test_window_is_the_calendar_month_in_beijing_time():
    start, end = periods.window("2026-12")
    assert (start.isoformat(), end.isoformat()) == (
        "2026-12-01T00:00:00+08:00",
        "2027-01-01T00:00:00+08:00",
    )


async def test_the_service_lapses_vouchers_on_its_own(env):
    from services.voucher.config import VoucherSettings
    from services.voucher.main import create_app
    from tests.conftest import running

    await env.appropriate(10_000_000)
    await enrol_many(env, 1)
    conn = await env.db()
    try:
        await conn.execute("UPDATE voucher SET valid_until = now() - interval '1 second'")
    finally:
        await conn.close()
    app = create_app(VoucherSettings(database_url=env.vdb.app_url, expiry_interval_s=0.05))
    app.state.ledger_client = env.ledger
    async with running(app):
        for _ in range(100):
            if await env.fetchval("SELECT count(*) FROM voucher WHERE status = 'expired'"):
                break
            await asyncio.sleep(0.05)
    assert await env.fetchval("SELECT released_fen FROM voucher") == FACE
    assert await env.fetchval("SELECT count(*) FROM outbox WHERE type = 'voucher.expired'") == 1


async def test_idempotency_keys_on_enrolment_and_runs(env):
    await env.appropriate(10_000_000)
    body = person()
    key = {"Idempotency-Key": "enrol-42"}
    first = await env.v.post("/v1/beneficiaries", headers={**env.officer, **key}, json=body)
    again = await env.v.post("/v1/beneficiaries", headers={**env.officer, **key}, json=body)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    assert await env.available() == 10_000_000 - FACE
    before = await env.snapshot()
    other = await env.v.post("/v1/beneficiaries", headers={**env.officer, **key}, json=person())
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "IDEMPOTENCY_KEY_REUSED",
        "field": "Idempotency-Key",
        "message": other.json()["error"]["message"],
    }
    assert body["national_id"] not in other.text
    # without a key, a retry is refused as a duplicate: never a second person
    dup = await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
    assert dup.json()["error"]["code"] == "BENEFICIARY_EXISTS"
    assert await env.snapshot() == before

    await enrol_many(env, 2)
    run_key = {**env.officer, "Idempotency-Key": "run-nov"}
    body = {"program_code": "disability_subsidy", "period": env.period, "region_code": CITY}
    r1 = await env.v.post("/v1/issuance-runs", headers=run_key, json=body)
    r2 = await env.v.post("/v1/issuance-runs", headers=run_key, json=body)
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()
    before = await env.snapshot()
    r3 = await env.v.post(
        "/v1/issuance-runs", headers=run_key, json={**body, "region_code": DISTRICT}
    )
    assert r3.status_code == 409 and r3.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    bad = await env.v.post(
        "/v1/issuance-runs", headers={**env.officer, "Idempotency-Key": " "}, json=body
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "Idempotency-Key"
    assert await env.snapshot() == before


async def test_vouchers_carry_the_spend_area_of_their_programs_scope(env):
    """spend_scope (default city) is snapshotted on the voucher as the person's area."""
    await enrol_many(env, 2)
    await env.appropriate(10_000_000)
    await env.appropriate(10_000_000, program="meal_assistance")
    assert (await run(env)).json()["issued"] == 2
    prog = (await env.v.get("/v1/programs/meal_assistance", headers=env.officer)).json()
    config = {**prog["config"], "spend_scope": "county"}
    put = await env.v.put(
        "/v1/programs/meal_assistance",
        headers=env.province,
        json={"config": config, "reason": "就近助餐", "expected_version": prog["version"]},
    )
    assert put.status_code == 200, put.text
    bad = await env.v.put(
        "/v1/programs/meal_assistance",
        headers=env.province,
        json={"config": {**config, "spend_scope": "village"}, "reason": "x"},
    )
    assert bad.status_code == 422 and "spend_scope" in bad.text
    assert (await run(env, program="meal_assistance")).json()["issued"] == 2
    rows = await env.fetch("SELECT program_code, spend_region_prefix FROM voucher")
    assert sorted((r["program_code"], r["spend_region_prefix"]) for r in rows) == [
        ("disability_subsidy", "4501"),
        ("disability_subsidy", "4501"),
        ("meal_assistance", "450103"),
        ("meal_assistance", "450103"),
    ]


async def test_recent_runs_are_listed_in_scope_newest_first(env, tokens):
    """Officers come back to a run they left: the region's runs with their progress; another
    city's officer sees none of them and cannot ask for them; a person cannot list runs."""
    await enrol_many(env, 2)
    await env.appropriate(10_000_000)
    first = (await run(env)).json()
    second = (await run(env, program="meal_assistance")).json()
    r = await env.v.get("/v1/issuance-runs", headers=env.officer, params={"region_code": CITY})
    assert r.status_code == 200, r.text
    listed = [x for x in r.json() if x["trigger"] == "run"]
    assert [x["run_id"] for x in listed][:2] == [second["run_id"], first["run_id"]]
    assert listed[1]["issued"] == first["issued"] and listed[1]["status"] == "completed"
    # a district under the city: its runs only (none were started for the district itself)
    r = await env.v.get("/v1/issuance-runs", headers=env.officer, params={"region_code": DISTRICT})
    assert r.status_code == 200 and all(x["region_code"].startswith(DISTRICT) for x in r.json())
    r = await env.v.get(
        "/v1/issuance-runs", headers=env.other_officer, params={"region_code": OTHER_CITY}
    )
    assert r.status_code == 200
    assert not {x["run_id"] for x in r.json()} & {first["run_id"], second["run_id"]}
    r = await env.v.get(
        "/v1/issuance-runs", headers=env.other_officer, params={"region_code": CITY}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    person_headers = tokens.headers("beneficiary", sub="p", beneficiary_ids=(str(uuid.uuid4()),))
    r = await env.v.get("/v1/issuance-runs", headers=person_headers, params={"region_code": CITY})
    assert r.status_code == 403
    r = await env.v.get("/v1/issuance-runs", headers=env.officer, params={"region_code": "x"})
    assert r.status_code == 422


async def preview(env, headers=None, **over):
    params = {"program_code": "disability_subsidy", "period": env.period, "region_code": CITY}
    return await env.v.get(
        "/v1/issuance-preview", headers=headers or env.officer, params={**params, **over}
    )


async def test_the_preview_says_what_a_run_would_issue_beside_the_budget_and_writes_nothing(env):
    await enrol_many(env, 4)
    await enrol_many(env, 1, assessed_on="2025-01-01")  # would be paid but for its assessment
    await env.appropriate(3 * FACE)
    before = await env.snapshot()
    r = await preview(env)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["eligible"], first["already_issued"], first["to_issue"]) == (4, 0, 4)
    assert (first["to_issue_fen"], first["assessment_lapsed"]) == (4 * FACE, 1)
    assert (first["budget_region_code"], first["budget_available_fen"]) == (CITY, 3 * FACE)
    assert await env.snapshot() == before  # a preview writes nothing

    # the run does what the preview said: everyone it counted is issued or refused for budget
    out = (await run(env)).json()
    assert out["issued"] + out["failed"] == first["to_issue"]
    assert out["skip_reasons"] == {"assessment_lapsed": first["assessment_lapsed"]}
    then = (await preview(env)).json()
    assert (then["already_issued"], then["to_issue"]) == (out["issued"], out["failed"])
    assert then["to_issue_fen"] == out["failed"] * FACE
    assert then["budget_available_fen"] == 3 * FACE - out["issued"] * FACE

    # scope, role and input are checked as for the run itself
    assert (await preview(env, region_code=OTHER_CITY)).status_code == 403
    assert (await preview(env, headers=env.other_officer)).status_code == 403
    assert (await preview(env, headers=env.finance)).status_code == 403
    bad = await preview(env, period="2026-13")
    assert bad.status_code == 422 and bad.json()["error"]["code"]
    assert (await preview(env, program_code="no_such_programme")).status_code == 404
