"""The eligibility rule language (schemas/programs.py `Rule`): data, never code; the pure
interpreter (service/eligibility.py `evaluate`) and its SQL (repository/issuance.py `rule_sql`)
pick the same people."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.voucher.repository.issuance import rule_sql
from services.voucher.schemas.programs import Eligibility, ProgramConfig
from services.voucher.service.eligibility import Subject, evaluate
from services.voucher.service.periods import parse_period
from tests.voucher.data.conftest import OTHER_DISTRICT
from tests.voucher.data.test_issuance import enrol_many

OLD = {"attr": "age", "op": ">=", "value": 80}


def rule(data):
    return Eligibility.model_validate({"rule": data}).rule


def test_rules_are_data_checked_and_never_run():
    who = Subject(age=82, grade=None, dibao=True, region_code="450103", care_setting="home")
    assert evaluate(rule(OLD), who)
    assert not evaluate(rule({"not": OLD}), who)
    assert not evaluate(rule({"attr": "grade", "op": ">=", "value": 0}), who)  # no grade
    assert evaluate(rule({"not": {"attr": "grade", "op": ">=", "value": 0}}), who)
    assert evaluate(
        rule({"all": [OLD, {"any": [{"attr": "region", "op": "within", "value": "450100"}]}]}),
        who,
    )
    assert not evaluate(rule({"attr": "region", "op": "not_in", "value": ["450000"]}), who)
    # 特困 and 户籍 (local: registered in the city lived in; unrecorded matches nothing)
    poor = Subject(82, 3, False, "450103", "home", tekun=True, hukou_region_code="450105")
    assert evaluate(rule({"attr": "tekun", "op": "==", "value": True}), poor)
    assert evaluate(rule({"attr": "hukou", "op": "==", "value": "local"}), poor)
    assert not evaluate(rule({"attr": "hukou", "op": "==", "value": "non_local"}), poor)
    assert evaluate(rule({"attr": "hukou_region", "op": "within", "value": "450100"}), poor)
    assert not evaluate(rule({"attr": "hukou", "op": "==", "value": "non_local"}), who)
    assert not evaluate(rule({"attr": "hukou", "op": "==", "value": "local"}), who)
    # dumped and read back unchanged (stored as JSONB)
    e = Eligibility.model_validate({"rule": {"not": {"all": [OLD]}}})
    assert Eligibility.model_validate(e.model_dump(mode="json")) == e
    for bad in (
        {"attr": "age", "op": "within", "value": 80},  # operator the attribute does not take
        {"attr": "age", "op": ">=", "value": "80"},
        {"attr": "hukou", "op": "==", "value": "here"},  # local or non_local
        {"attr": "hukou", "op": "within", "value": "450100"},
        {"attr": "tekun", "op": "==", "value": 1},
        {"attr": "wealth", "op": "==", "value": 1},  # no such attribute
        {"attr": "care_setting", "op": "in", "value": []},
        {"attr": "region", "op": "within", "value": "45x"},
        {"attr": "age", "op": ">=", "value": 80, "code": "__import__('os')"},
        {"all": []},
        {"nest": [OLD]},
    ):
        with pytest.raises(ValidationError):
            rule(bad)
    deep = OLD
    for _ in range(9):
        deep = {"not": deep}
    with pytest.raises(ValidationError):
        rule(deep)


RULES = [
    OLD,
    {"attr": "age", "op": "<", "value": 76},
    {"attr": "age", "op": "==", "value": 75},
    {"attr": "age", "op": "!=", "value": 75},
    {"attr": "grade", "op": "in", "value": [3, 4]},
    {"not": {"attr": "grade", "op": ">", "value": 2}},
    {"any": [{"attr": "dibao", "op": "==", "value": True}, OLD]},
    {"all": [{"attr": "region", "op": "within", "value": OTHER_DISTRICT}, {"not": OLD}]},
    {"attr": "care_setting", "op": "not_in", "value": ["home"]},
    {"attr": "tekun", "op": "==", "value": True},
    {
        "any": [
            {"attr": "tekun", "op": "==", "value": True},
            {"attr": "dibao", "op": "!=", "value": True},
        ]
    },
    {"attr": "hukou", "op": "==", "value": "local"},
    {"attr": "hukou", "op": "==", "value": "non_local"},
    {"attr": "hukou", "op": "!=", "value": "local"},
    {"not": {"attr": "hukou", "op": "==", "value": "local"}},
    {"attr": "hukou_region", "op": "within", "value": "450000"},
    {"attr": "hukou_region", "op": "not_in", "value": ["450100"]},
]


@pytest.mark.parametrize("data", RULES, ids=[str(i) for i in range(len(RULES))])
async def test_sql_and_the_pure_rule_pick_the_same_people(env, data):
    await enrol_many(env, 2)  # 75 years old, grade 3, home
    await enrol_many(env, 2, birth=date(1940, 1, 1), region=OTHER_DISTRICT)  # 86
    await enrol_many(env, 1, birth=date(1951, 1, 1), scores=(0, 0, 0, 0))  # grade 4
    await enrol_many(env, 1, birth=date(1970, 1, 1))  # 56
    await enrol_many(env, 1, tekun=True, hukou="450103")  # 特困, local 户籍
    await enrol_many(env, 1, birth=date(1940, 1, 1), hukou="450203")  # 户籍 in another city
    await enrol_many(env, 1, tekun=True, hukou="110105")  # 户籍 in another province
    r = rule(data)
    on = parse_period(env.period)
    people = await env.fetch(
        "SELECT id, birth_on, grade, dibao, region_code, care_setting, tekun,"
        " hukou_region_code FROM beneficiary"
    )
    from services.voucher.service.eligibility import age_on

    expected = {
        p["id"]
        for p in people
        if evaluate(
            r,
            Subject(
                age_on(p["birth_on"], on),
                p["grade"],
                p["dibao"],
                p["region_code"],
                p["care_setting"],
                p["tekun"],
                p["hukou_region_code"],
            ),
        )
    }
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from services.voucher.models import Beneficiary

    stmt = select(Beneficiary.id).where(rule_sql(r, on))
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    got = {row["id"] for row in await env.fetch(sql)}
    assert got == expected
    assert len(people) > 0


async def test_a_programme_with_a_rule_previews_and_issues_by_it(env):
    await enrol_many(env, 2)  # 75
    await enrol_many(env, 3, birth=date(1940, 1, 1))  # 86
    config = ProgramConfig.model_validate(
        {
            "name": "高龄津贴",
            "kind": "cash_benefit",
            "eligibility": {"min_age": 60, "grades": [0, 1, 2, 3, 4], "rule": OLD},
            "settings": {s: {"face_fen": 10_000} for s in ("home", "community", "institution")},
            "allowed_kinds": [],
            "funding_shares": {"central": 9500, "regional": 500},
        }
    ).model_dump(mode="json")
    r = await env.v.post(
        "/v1/programs/preview",
        headers=env.province,
        json={"config": config, "region_code": "450000"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["people"], r.json()["monthly_cost_fen"]) == (3, 30_000)
    r = await env.v.post(
        "/v1/programs",
        headers=env.province,
        json={"code": "age_allowance", "region_code": "450000", "config": config, "reason": "x"},
    )
    assert r.status_code == 201, r.text
    await env.appropriate(1_000_000, program="age_allowance")
    out = await env.v.post(
        "/v1/issuance-runs",
        headers=env.officer,
        json={"program_code": "age_allowance", "period": env.period, "region_code": "450100"},
    )
    assert out.status_code == 200, out.text
    assert (out.json()["eligible"], out.json()["issued"]) == (3, 3)
    assert await env.fetchval("SELECT count(*) FROM cash_benefit") == 3
