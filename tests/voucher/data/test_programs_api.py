"""Programmes through the API (issue 16): created by a region, read in scope, previewed before
publishing, and issued like the defaults."""

from __future__ import annotations

from datetime import date

from tests.voucher.data.conftest import CITY, DISTRICT, OTHER_DISTRICT
from tests.voucher.data.test_issuance import enrol_many, run

BED = {  # 家庭养老床位: a city's own monthly package for the severely disabled at home
    "name": "家庭养老床位",
    "kind": "voucher",
    "eligibility": {"min_age": 60, "grades": [3, 4], "care_settings": ["home"]},
    "settings": {
        "home": {"face_fen": 30_000, "ratio_bp": 10_000, "categories": ["home_care_hours"]}
    },
    "allowed_kinds": ["home_care"],
    "funding_shares": {"city": 10_000},
}


def create_body(code="family_bed", region=CITY, config=None, reason="市政府常务会议决定"):
    return {"code": code, "region_code": region, "config": config or BED, "reason": reason}


async def test_a_city_creates_its_own_programme_seen_only_where_it_applies(env, tokens):
    before = await env.snapshot()
    # refusals first: nothing changes
    finance = tokens.headers("finance", sub="f:nn", region=CITY)
    assert (
        await env.v.post("/v1/programs", headers=finance, json=create_body())
    ).status_code == 403
    r = await env.v.post("/v1/programs", headers=env.other_officer, json=create_body())
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    bad = {**BED, "eligibility": {**BED["eligibility"], "regions": ["450200"]}}
    r = await env.v.post("/v1/programs", headers=env.officer, json=create_body(config=bad))
    assert r.status_code == 422 and r.json()["error"]["code"] == "PROGRAM_REGION_MISMATCH"
    r = await env.v.post("/v1/programs", headers=env.officer, json=create_body(code="Bad Code"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "code"
    r = await env.v.post(
        "/v1/programs", headers=env.officer, json=create_body(code="disability_subsidy")
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "PROGRAM_EXISTS"
    assert await env.snapshot() == before

    r = await env.v.post("/v1/programs", headers=env.officer, json=create_body())
    assert r.status_code == 201, r.text
    assert r.json() == {"code": "family_bed", "version": 1}
    got = (await env.v.get("/v1/programs/family_bed", headers=env.officer)).json()
    assert got["region_code"] == CITY
    assert got["config"]["eligibility"]["regions"] == [CITY]  # applies only in the city
    # the province's officer and the city's see it; another city's does not
    assert "family_bed" in {
        p["code"] for p in (await env.v.get("/v1/programs", headers=env.province)).json()
    }
    other = (await env.v.get("/v1/programs", headers=env.other_officer)).json()
    assert "family_bed" not in {p["code"] for p in other}
    assert "disability_subsidy" in {p["code"] for p in other}  # the province's: everywhere
    r = await env.v.get("/v1/programs/family_bed", headers=env.other_officer)
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROGRAM_NOT_FOUND"
    # a new version by the city's officer; another city's cannot
    put = {
        "config": {**BED, "name": "家庭养老床位（2027）"},
        "reason": "调整",
        "expected_version": 1,
    }
    r = await env.v.put("/v1/programs/family_bed", headers=env.other_officer, json=put)
    assert r.status_code == 404
    r = await env.v.put("/v1/programs/family_bed", headers=env.officer, json=put)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert r.json()["config"]["eligibility"]["regions"] == [CITY]
    # the province's programmes stay the province's to change
    r = await env.v.put(
        "/v1/programs/disability_subsidy",
        headers=env.officer,
        json={"config": got["config"], "reason": "越权"},
    )
    assert r.status_code == 403


async def test_preview_then_publish_then_issue_the_same_people(env):
    await enrol_many(env, 3)  # grade 3, home, Qingxiu
    await enrol_many(env, 2, region=OTHER_DISTRICT)
    await enrol_many(env, 1, birth=date(1970, 1, 1))  # too young
    await enrol_many(env, 1, scores=(30, 15, 25, 15))  # grade 1
    r = await env.v.post(
        "/v1/programs/preview",
        headers=env.officer,
        json={"config": BED, "region_code": CITY, "period": env.period},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "region_code": CITY,
        "period": env.period,
        "people": 5,
        "by_care_setting": {"home": 5},
        "monthly_cost_fen": 5 * 30_000,
    }
    r = await env.v.post(
        "/v1/programs/preview",
        headers=env.officer,
        json={"config": BED, "region_code": DISTRICT},
    )
    assert r.json()["people"] == 3
    r = await env.v.post(
        "/v1/programs/preview",
        headers=env.other_officer,
        json={"config": BED, "region_code": CITY},
    )
    assert r.status_code == 403
    assert (
        await env.v.post("/v1/programs", headers=env.officer, json=create_body())
    ).status_code == 201
    # the ledger learns the new code from the voucher service, finance funds it, it issues
    r = await env.ledger.post(
        "/v1/appropriations",
        headers=env.finance,
        json={
            "idempotency_key": "appr:family_bed",
            "program_code": "family_bed",
            "region_code": CITY,
            "by_source": {"city": 1_000_000},  # the city's own money
            "memo": "市级自有资金",
        },
    )
    assert r.status_code == 201, r.text
    out = (await run(env, program="family_bed")).json()
    assert (out["status"], out["eligible"], out["issued"]) == ("completed", 5, 5)
    rows = await env.fetch(
        "SELECT face_fen, program_version, allowed_kinds FROM voucher "
        "WHERE program_code = 'family_bed'"
    )
    assert {(r["face_fen"], r["program_version"]) for r in rows} == {(30_000, 1)}
    assert await env.available(program="family_bed") == 1_000_000 - 5 * 30_000
    # people read the programme's own name beside its vouchers (no label table knows it)
    holder = await env.fetchval(
        "SELECT beneficiary_id FROM voucher WHERE program_code = 'family_bed'"
    )
    held = await env.v.get(f"/v1/beneficiaries/{holder}/vouchers", headers=env.officer)
    assert held.status_code == 200, held.text
    assert {v["program_name"] for v in held.json() if v["program_code"] == "family_bed"} == {
        "家庭养老床位"
    }


ADAPTATION = {  # 适老化改造: once per person, up to 3,000 yuan, within 2026-2027
    "name": "适老化改造",
    "kind": "one_off",
    "eligibility": {"min_age": 60, "grades": [2, 3, 4], "care_settings": ["home"]},
    "settings": {"home": {"face_fen": 300_000, "ratio_bp": 10_000, "categories": ["cleaning"]}},
    "allowed_kinds": ["home_care"],
    "window_from": "2026-01",
    "window_until": "2027-12",
    "valid_months": 6,
    "schedule": {"auto": False},
}


async def test_a_one_off_voucher_is_issued_once_per_person_across_periods(env):
    import asyncio

    from services.voucher.service.issuance import add_months_period

    ids = await enrol_many(env, 4)
    r = await env.v.post(
        "/v1/programs",
        headers=env.province,
        json=create_body(code="home_adaptation", region="450000", config=ADAPTATION),
    )
    assert r.status_code == 201, r.text
    await env.appropriate(10_000_000, program="home_adaptation")
    first = (await run(env, program="home_adaptation")).json()
    assert (first["eligible"], first["issued"]) == (4, 4)
    following = add_months_period(env.period, 1)
    # the next period, twice at once, and the same period again: nobody gets a second one
    results = await asyncio.gather(
        run(env, program="home_adaptation", period=following),
        run(env, program="home_adaptation", period=following, region=DISTRICT),
        run(env, program="home_adaptation"),
    )
    assert [r.json()["issued"] for r in results] == [0, 0, 0]
    assert [r.json()["skipped"] for r in results] == [4, 4, 4]
    rows = await env.fetch(
        "SELECT beneficiary_id, period, valid_from, valid_until, once FROM voucher "
        "WHERE program_code = 'home_adaptation'"
    )
    assert len(rows) == 4 and {str(r["beneficiary_id"]) for r in rows} == set(ids)
    assert all(r["once"] for r in rows)
    months = {(r["valid_until"] - r["valid_from"]).days for r in rows}
    assert min(months) >= 181 and max(months) <= 184  # six months
    assert await env.available(program="home_adaptation") == 10_000_000 - 4 * 300_000
    # the database refuses a second one whoever writes it
    conn = await env.db()
    try:
        import asyncpg
        import pytest

        cols = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'voucher'"
                " AND column_name NOT IN ('id', 'period')"
            )
        ]
        listed = ", ".join(cols)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                f"INSERT INTO voucher (id, period, {listed}) SELECT gen_random_uuid(), $1,"
                f" {listed} FROM voucher WHERE program_code = 'home_adaptation' LIMIT 1",
                following,
            )
    finally:
        await conn.close()
    # outside its window, nobody
    out = (await run(env, program="home_adaptation", period="2028-01")).json()
    assert (out["eligible"], out["issued"]) == (0, 0)


def test_the_demo_programmes_are_valid_configurations():
    from services.demo import DEMO_PROGRAMS
    from services.voucher.schemas.programs import ProgramConfig, ProgramCreate

    kinds = set()
    for code, region, config in DEMO_PROGRAMS:
        ProgramCreate.model_validate(
            {"code": code, "region_code": region, "config": config, "reason": "演示"}
        )
        kinds.add(ProgramConfig.model_validate(config).kind)
    assert kinds == {"cash_benefit", "one_off", "service_package"}


async def test_a_new_version_for_a_future_period_leaves_this_period_and_past_vouchers_alone(env):
    from services.voucher.service.issuance import add_months_period

    await enrol_many(env, 2)
    r = await env.v.post("/v1/programs", headers=env.officer, json=create_body())
    assert r.status_code == 201
    await env.ledger.post(
        "/v1/appropriations",
        headers=env.finance,
        json={
            "idempotency_key": "appr:family_bed:v",
            "program_code": "family_bed",
            "region_code": CITY,
            "by_source": {"city": 10_000_000},
            "memo": "市级自有资金",
        },
    )
    assert (await run(env, program="family_bed")).json()["issued"] == 2
    following = add_months_period(env.period, 1)
    richer = {**BED, "settings": {"home": {**BED["settings"]["home"], "face_fen": 45_000}}}
    put = {"config": richer, "reason": "提标", "effective_from": following}
    bad = await env.v.put(
        "/v1/programs/family_bed",
        headers=env.officer,
        json={**put, "effective_from": "2020-01"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "effective_from"
    r = await env.v.put("/v1/programs/family_bed", headers=env.officer, json=put)
    assert r.status_code == 200 and r.json()["version"] == 2
    # this period: still version 1, for late enrolments too; the vouchers issued keep theirs
    await enrol_many(env, 1)
    this = (await run(env, program="family_bed")).json()
    assert this["issued"] in (0, 1)  # the newcomer may have had it at enrolment already
    rows = await env.fetch(
        "SELECT period, face_fen, program_version FROM voucher WHERE program_code = 'family_bed'"
    )
    assert {(r["face_fen"], r["program_version"]) for r in rows} == {(30_000, 1)}
    # the next period is issued under version 2
    nxt = (await run(env, program="family_bed", period=following)).json()
    assert nxt["issued"] == 3
    rows = await env.fetch(
        "SELECT face_fen, program_version FROM voucher "
        "WHERE program_code = 'family_bed' AND period = $1",
        following,
    )
    assert {(r["face_fen"], r["program_version"]) for r in rows} == {(45_000, 2)}
    versions = (await env.v.get("/v1/programs/family_bed/versions", headers=env.officer)).json()
    assert [v["effective_from"] for v in versions] == [None, following]


PACKAGE = {  # 家庭养老床位 as a service package: 8 home visits a month
    "name": "家庭养老床位",
    "kind": "service_package",
    "visits_per_period": 8,
    "eligibility": {"min_age": 60, "grades": [2, 3, 4], "care_settings": ["home"]},
    "settings": {
        "home": {"face_fen": 60_000, "ratio_bp": 8_000, "categories": ["home_care_hours"]}
    },
    "per_txn_cap_fen": 7_500,
    "allowed_kinds": ["home_care"],
    "funding_shares": {"central": 9500, "regional": 500},
    "schedule": {"auto": False},
}

AGE_ALLOWANCE = {  # 高龄津贴 by age band, paid in cash through payment batches
    "name": "高龄津贴",
    "kind": "cash_benefit",
    "eligibility": {
        "min_age": 60,
        "grades": [0, 1, 2, 3, 4],
        "rule": {"attr": "age", "op": ">=", "value": 80},
    },
    "settings": {s: {"face_fen": 10_000} for s in ("home", "community", "institution")},
    "age_bands": [{"min_age": 80, "face_fen": 10_000}, {"min_age": 90, "face_fen": 20_000}],
    "allowed_kinds": [],
    "funding_shares": {"central": 9500, "regional": 500},
    "schedule": {"auto": False},
}


async def test_a_service_package_grants_its_visits_and_an_allowance_pays_by_age_band(env):
    from services.voucher.schemas.programs import ProgramConfig

    await enrol_many(env, 2)  # 75
    await enrol_many(env, 2, birth=date(1944, 1, 1))  # 82
    await enrol_many(env, 1, birth=date(1932, 1, 1))  # 94
    for code, config in (("bed_package", PACKAGE), ("age_band", AGE_ALLOWANCE)):
        r = await env.v.post(
            "/v1/programs",
            headers=env.province,
            json=create_body(code=code, region="450000", config=config),
        )
        assert r.status_code == 201, r.text
        await env.appropriate(10_000_000, program=code)
    # the preview costs the allowance by age band: 2 x 100 + 1 x 200 yuan
    r = await env.v.post(
        "/v1/programs/preview",
        headers=env.province,
        json={"config": AGE_ALLOWANCE, "region_code": "450000"},
    )
    assert (r.json()["people"], r.json()["monthly_cost_fen"]) == (3, 40_000)
    out = (await run(env, program="bed_package")).json()
    assert (out["eligible"], out["issued"]) == (5, 5)
    rows = await env.fetch(
        "SELECT visits_left, face_fen, per_txn_cap_fen FROM voucher "
        "WHERE program_code = 'bed_package'"
    )
    assert {tuple(r) for r in rows} == {(8, 60_000, 7_500)}
    out = (await run(env, program="age_band")).json()
    assert (out["eligible"], out["issued"]) == (3, 3)
    amounts = sorted(
        r["amount_fen"]
        for r in await env.fetch(
            "SELECT amount_fen FROM cash_benefit WHERE program_code = 'age_band'"
        )
    )
    assert amounts == [10_000, 10_000, 20_000]
    assert await env.available(program="age_band") == 10_000_000 - 40_000
    # the allowance reaches the ledger through the outbox: each person is owed exactly their
    # band's amount (2202 beneficiary payable, what payment batches pay out)
    from services.voucher.relay import Relay

    relay = Relay(env.app.state.db.raw_pool, env.ledger)
    while await relay.deliver_once():
        pass
    assert relay.rejected == 0
    owed = {
        str(r["beneficiary_id"]): -r["b"]
        for r in await env.ledger_fetch(
            "SELECT beneficiary_id, sum(balance_fen) AS b FROM account WHERE code = '2202'"
            " AND program_code = 'age_band' GROUP BY 1"
        )
    }
    benefits = {
        str(r["beneficiary_id"]): r["amount_fen"]
        for r in await env.fetch(
            "SELECT beneficiary_id, amount_fen FROM cash_benefit WHERE program_code = 'age_band'"
        )
    }
    assert owed == benefits and sum(owed.values()) == 40_000
    # a package needs its visits; bands only for a cash allowance, in increasing age
    import pytest
    from pydantic import ValidationError

    for bad in (
        {**PACKAGE, "visits_per_period": None},
        {**AGE_ALLOWANCE, "kind": "voucher"},
        {
            **AGE_ALLOWANCE,
            "age_bands": [{"min_age": 90, "face_fen": 1}, {"min_age": 80, "face_fen": 1}],
        },
    ):
        with pytest.raises(ValidationError):
            ProgramConfig.model_validate(bad)
