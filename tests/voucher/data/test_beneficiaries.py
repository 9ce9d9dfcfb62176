"""Enrolment, masking, duplicates, status changes, proxies, reading vouchers; bad input and
wrong role / scope refused with nothing changed."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date, timedelta

from tests.voucher.data.conftest import (
    DISTRICT,
    OTHER_CITY_DISTRICT,
    make_national_id,
    person,
)


async def test_enrol_grades_the_assessment_and_issues_the_current_month_at_once(env):
    await env.appropriate(10_000_000)
    await env.appropriate(10_000_000, program="meal_assistance")
    body = person()
    r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["grade"] == 3
    assert sorted(out["eligible_programs"]) == ["disability_subsidy", "meal_assistance"]
    by_program = {v["program_code"]: v for v in out["vouchers"]}
    assert by_program["disability_subsidy"]["face_fen"] == 50_000
    assert by_program["disability_subsidy"]["balance_fen"] == 50_000
    assert by_program["disability_subsidy"]["period"] == env.period
    assert by_program["meal_assistance"]["face_fen"] == 31_000
    assert out["pending_programs"] == []
    # the ledger committed exactly the face values
    assert await env.available() == 10_000_000 - 50_000
    assert await env.available("meal_assistance") == 10_000_000 - 31_000

    # rules snapshotted onto the voucher row
    row = await env.fetch(
        "SELECT * FROM voucher WHERE beneficiary_id = $1 AND program_code = 'disability_subsidy'",
        uuid.UUID(out["id"]),
    )
    v = row[0]
    assert v["ratio_bp"] == 5000 and v["per_use_fen"] is None
    assert "home_care_hours" in v["allowed_categories"] and "meal" not in v["allowed_categories"]
    assert v["budget_region_code"] == "450100"
    meal = (
        await env.fetch(
            "SELECT * FROM voucher WHERE beneficiary_id = $1 AND program_code = 'meal_assistance'",
            uuid.UUID(out["id"]),
        )
    )[0]
    assert (
        meal["per_use_fen"],
        meal["day_limit_count"],
        meal["allowed_kinds"],
        meal["allowed_categories"],
    ) == (500, 2, ["meal_point"], ["meal"])
    assert meal["priority"] < v["priority"]

    # shown masked; stored encrypted
    got = (await env.v.get(f"/v1/beneficiaries/{out['id']}", headers=env.officer)).json()
    nid = body["national_id"]
    assert got["national_id_masked"] == nid[:4] + "*" * 10 + nid[-4:]
    assert got["phone_masked"] == body["phone"][:3] + "****" + body["phone"][-4:]
    assert got["birth_on"] == "1950-03-15" and got["sex"] == "M"
    assert nid not in r.text and nid not in str(got)
    raw = await env.fetch("SELECT national_id_enc, phone_enc FROM beneficiary")
    assert nid.encode() not in raw[0]["national_id_enc"]
    assert body["phone"].encode() not in raw[0]["phone_enc"]


async def test_the_same_national_id_is_never_enrolled_twice(env):
    body = person()
    r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
    assert r.status_code == 201, r.text
    # no budget yet: enrolled all the same, the month reported pending
    assert r.json()["vouchers"] == []
    assert sorted(r.json()["pending_programs"]) == ["disability_subsidy", "meal_assistance"]
    assert await env.fetchval("SELECT count(*) FROM voucher") == 0
    before = await env.snapshot()
    again = await env.v.post(
        "/v1/beneficiaries",
        headers=env.officer,
        json={**body, "name": "李四", "national_id": body["national_id"].lower()},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "BENEFICIARY_EXISTS"
    assert again.json()["error"]["field"] == "national_id"
    assert await env.snapshot() == before


def _bad(path: str, value):
    body = person()
    target = body
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[k]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return body


BAD_INPUTS = [
    ("national_id", "450103195003150019", "INVALID_NATIONAL_ID", "national_id"),
    ("national_id", "not-an-id", "INVALID_NATIONAL_ID", "national_id"),
    ("national_id", KeyError, "FIELD_REQUIRED", "national_id"),
    ("phone", "12345", "INVALID_PHONE", "phone"),
    ("region_code", "999999", "INVALID_REGION", "region_code"),
    ("region_code", "45010", "INVALID_REGION", "region_code"),
    ("care_setting", "hotel", "INVALID_VALUE", "care_setting"),
    ("name", "   ", "INVALID_VALUE", "name"),
    ("lat", 123.0, "INVALID_VALUE", "lat"),
    ("dibao", "maybe", "INVALID_VALUE", "dibao"),
    ("assessment.scores.self_care", 33, "SCORE_OUT_OF_RANGE", "assessment.scores.self_care"),
    ("assessment.scores.motor", -1, "SCORE_OUT_OF_RANGE", "assessment.scores.motor"),
    ("assessment.scores.mental", 29, "SCORE_OUT_OF_RANGE", "assessment.scores.mental"),
    (
        "assessment.scores.perception_social",
        16,
        "SCORE_OUT_OF_RANGE",
        "assessment.scores.perception_social",
    ),
    ("assessment.scores.motor", "lots", "INVALID_VALUE", "assessment.scores.motor"),
    ("assessment.flags.care_risk_events", -2, "INVALID_VALUE", "assessment.flags.care_risk_events"),
    ("assessment.flags.sleepy", True, "FIELD_NOT_ALLOWED", "assessment.flags.sleepy"),
    (
        "assessment.assessed_on",
        (date.today() + timedelta(days=3)).isoformat(),
        "INVALID_ASSESSMENT_DATE",
        "assessment.assessed_on",
    ),
    ("assessment.assessed_on", "yesterday", "INVALID_VALUE", "assessment.assessed_on"),
    ("assessment.assessor", "", "INVALID_VALUE", "assessment.assessor"),
    ("assessment", KeyError, "FIELD_REQUIRED", "assessment"),
    ("extra", 1, "FIELD_NOT_ALLOWED", "extra"),
]


async def test_bad_enrolment_input_is_refused_naming_the_field_and_changes_nothing(env):
    await env.appropriate(10_000_000)
    await env.enrol()
    before = await env.snapshot()
    for path, value, code, field in BAD_INPUTS:
        r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=_bad(path, value))
        assert 400 <= r.status_code < 500, (path, r.text)
        err = r.json()["error"]
        got = (
            err["details"]["problems"][0]["code"]
            if err["code"] == "VALIDATION_ERROR"
            else err["code"]
        )
        assert (got, err["field"]) == (code, field), (path, err)
    r = await env.v.post(
        "/v1/beneficiaries",
        headers={**env.officer, "content-type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 422
    assert await env.snapshot() == before


async def test_enrolment_needs_an_officer_of_the_person_s_region(env, tokens):
    before = await env.snapshot()
    for headers in (
        env.other_officer,  # wrong scope
        tokens.headers("finance", region="450000"),  # wrong role
        tokens.headers("beneficiary"),
        tokens.headers("auditor", region="450000"),
    ):
        r = await env.v.post("/v1/beneficiaries", headers=headers, json=person())
        assert r.status_code == 403, r.text
    assert (await env.v.post("/v1/beneficiaries", json=person())).status_code == 401
    assert await env.snapshot() == before


async def test_personal_data_never_reaches_a_log_or_an_error(env, caplog):
    caplog.set_level(logging.DEBUG)  # root logger, everything
    nid = make_national_id()
    phone = "13912345678"
    body = person(national_id=nid, phone=phone)
    assert (
        await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
    ).status_code == 201
    texts = []
    # duplicate, bad phone with a valid id, bad id that is almost right, out-of-scope
    texts.append((await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)).text)
    texts.append(
        (
            await env.v.post(
                "/v1/beneficiaries",
                headers=env.officer,
                json={**person(national_id=nid), "phone": "99" + phone},
            )
        ).text
    )
    texts.append(
        (
            await env.v.post(
                "/v1/beneficiaries",
                headers=env.officer,
                json={**body, "national_id": nid[:-1] + "Z"},
            )
        ).text
    )
    texts.append(
        (
            await env.v.post(
                "/v1/beneficiaries", headers=env.officer, json={**body, "national_id": nid[:17]}
            )
        ).text
    )
    texts.append((await env.v.post("/v1/beneficiaries", headers=env.other_officer, json=body)).text)
    csv_text = (
        "national_id,name,phone,region_code,address,care_setting,dibao,self_care,motor,"
        "mental,perception_social,assessed_on,assessor\n"
        f"{nid},张三,{phone},{DISTRICT},地址,home,0,10,5,5,5,2026-01-01,中心\n"
        f"{nid[:-1]}Q,张三,{phone},{DISTRICT},地址,home,0,10,5,5,5,2026-01-01,中心\n"
        f"{make_national_id()},张三,{phone}9,{DISTRICT},地址,home,0,10,5,5,5,2026-01-01,中心\n"
        f"{make_national_id()},张三,{phone},{OTHER_CITY_DISTRICT},地址,home,0,10,5,5,5,"
        "2026-01-01,中心\n"
    )
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={"file": ("people.csv", csv_text.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    texts.append(r.text)
    logged = "\n".join(rec.getMessage() + str(rec.args) for rec in caplog.records)
    logged += caplog.text
    for secret in (nid, nid[:17], phone, phone[3:]):
        assert secret not in logged
        for t in texts:
            assert secret not in t


async def test_status_change_freezes_vouchers_at_once_and_reactivation_unfreezes(env):
    await env.appropriate(10_000_000)
    await env.appropriate(10_000_000, program="meal_assistance")
    b = await env.enrol()
    url = f"/v1/beneficiaries/{b['id']}/status"
    r = await env.v.post(url, headers=env.officer, json={"status": "suspended", "reason": "住院"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    statuses = {
        v["status"]
        for v in (
            await env.v.get(f"/v1/beneficiaries/{b['id']}/vouchers", headers=env.officer)
        ).json()
    }
    assert statuses == {"suspended"}
    r = await env.v.post(url, headers=env.officer, json={"status": "active", "reason": "出院"})
    assert r.json()["status"] == "active"
    statuses = {
        v["status"]
        for v in (
            await env.v.get(f"/v1/beneficiaries/{b['id']}/vouchers", headers=env.officer)
        ).json()
    }
    assert statuses == {"active"}
    assert (
        await env.v.post(url, headers=env.officer, json={"status": "deceased", "reason": "病故"})
    ).status_code == 200
    before = await env.snapshot()
    again = await env.v.post(url, headers=env.officer, json={"status": "active", "reason": "x"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "STATUS_TRANSITION_NOT_ALLOWED"
    bad = await env.v.post(url, headers=env.officer, json={"status": "gone", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    nobody = await env.v.post(
        f"/v1/beneficiaries/{uuid.uuid4()}/status",
        headers=env.officer,
        json={"status": "moved", "reason": "x"},
    )
    assert nobody.status_code == 404
    wrong_scope = await env.v.post(
        url, headers=env.other_officer, json={"status": "moved", "reason": "x"}
    )
    assert wrong_scope.status_code == 404 and wrong_scope.json() == nobody.json()
    assert await env.snapshot() == before
    assert {
        v["status"]
        for v in (
            await env.v.get(f"/v1/beneficiaries/{b['id']}/vouchers", headers=env.officer)
        ).json()
    } == {"revoked"}  # a death revokes them (and releases the balance: test_lifecycle.py)


async def test_vouchers_are_seen_by_the_person_a_live_proxy_and_an_officer_of_the_region(
    env, tokens
):
    await env.appropriate(10_000_000)
    b = await env.enrol()
    other = await env.enrol()
    bid = b["id"]
    url = f"/v1/beneficiaries/{bid}/vouchers"
    me = tokens.headers("beneficiary", sub=bid)
    r = await env.v.get(url, headers=me)
    assert r.status_code == 200
    v = next(x for x in r.json() if x["program_code"] == "disability_subsidy")
    assert v["balance_fen"] == 50_000 and v["status"] == "active" and v["valid_until"]
    assert (await env.v.get(url, headers=env.officer)).status_code == 200
    # wrong person, wrong region: not found, exactly like an id nobody has; wrong role: 403
    missing = await env.v.get(f"/v1/beneficiaries/{uuid.uuid4()}/vouchers", headers=env.officer)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    for headers in (tokens.headers("beneficiary", sub=other["id"]), env.other_officer):
        r = await env.v.get(url, headers=headers)
        assert (r.status_code, r.json()) == (404, missing.json())
    assert (
        await env.v.get(url, headers=tokens.headers("provider_staff", provider_id="p1"))
    ).status_code == 403

    # a proxy needs both the token scope and a live authorisation (told when it has none)
    proxy = tokens.headers("proxy", sub="proxy:daughter", beneficiary_ids=[bid])
    r = await env.v.get(url, headers=proxy)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    p = await env.v.post(
        f"/v1/beneficiaries/{bid}/proxies",
        headers=env.officer,
        json={
            "proxy_sub": "proxy:daughter",
            "name": "张小红",
            "relation": "女儿",
            "phone": "13700001111",
        },
    )
    assert p.status_code == 201, p.text
    assert p.json()["phone_masked"] == "137****1111"
    assert (await env.v.get(url, headers=proxy)).status_code == 200
    codes_url = f"/v1/beneficiaries/{bid}/codes"
    assert (await env.v.post(codes_url, headers=proxy)).status_code == 201
    # a proxy for someone else: not found for them
    r = await env.v.get(f"/v1/beneficiaries/{other['id']}/vouchers", headers=proxy)
    assert (r.status_code, r.json()) == (404, missing.json())
    # wrong scope cannot add or revoke: not found for them either
    r = await env.v.post(
        f"/v1/beneficiaries/{bid}/proxies/{p.json()['id']}/revoke", headers=env.other_officer
    )
    assert (r.status_code, r.json()) == (404, missing.json())
    rv = await env.v.post(
        f"/v1/beneficiaries/{bid}/proxies/{p.json()['id']}/revoke", headers=env.officer
    )
    assert rv.status_code == 200 and rv.json()["status"] == "revoked"
    assert (await env.v.get(url, headers=proxy)).status_code == 403
    # ... and can no longer make payment codes, although the sign-in token still names them
    refused = await env.v.post(codes_url, headers=proxy)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "OUT_OF_SCOPE"
    proxies = (await env.v.get(f"/v1/beneficiaries/{bid}/proxies", headers=me)).json()
    assert [x["status"] for x in proxies] == ["revoked"]
    bad = await env.v.post(
        f"/v1/beneficiaries/{bid}/proxies",
        headers=env.officer,
        json={"proxy_sub": "proxy:x", "name": "x", "relation": "子", "phone": "123"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "phone"


async def test_reassessment_changes_the_grade(env):
    b = await env.enrol()
    r = await env.v.post(
        f"/v1/beneficiaries/{b['id']}/assessments",
        headers=env.officer,
        json={
            "scores": {"self_care": 30, "motor": 15, "mental": 25, "perception_social": 15},
            "flags": {"dementia": True},
            "assessed_on": date.today().isoformat(),
            "assessor": "中心",
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["total"], r.json()["grade"]) == (85, 2)
    got = (await env.v.get(f"/v1/beneficiaries/{b['id']}", headers=env.officer)).json()
    assert got["grade"] == 2
    before = await env.snapshot()
    bad = await env.v.post(
        f"/v1/beneficiaries/{b['id']}/assessments",
        headers=env.officer,
        json={
            "scores": {"self_care": 40, "motor": 1, "mental": 1, "perception_social": 1},
            "assessed_on": "2026-01-01",
            "assessor": "x",
        },
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "assessment.scores.self_care"
    assert await env.snapshot() == before


async def test_racing_enrolments_of_one_person_create_them_once(env):
    import asyncio

    body = person()
    results = await asyncio.gather(
        *[env.v.post("/v1/beneficiaries", headers=env.officer, json=body) for _ in range(6)]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 5, [r.text for r in results]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {
        "BENEFICIARY_EXISTS"
    }
    assert await env.fetchval("SELECT count(*) FROM beneficiary") == 1
    assert await env.fetchval("SELECT count(*) FROM assessment") == 1


def test_openapi_documents_every_route():
    from services.voucher.config import VoucherSettings
    from services.voucher.main import create_app

    paths = create_app(
        VoucherSettings(database_url="postgresql://nobody@127.0.0.1/none")
    ).openapi()["paths"]
    for path in (
        "/v1/beneficiaries",
        "/v1/beneficiaries/import",
        "/v1/issuance-runs",
        "/v1/issuance-runs/{run_id}",
        "/v1/beneficiaries/{beneficiary_id}/vouchers",
        "/v1/programs/{code}",
    ):
        assert path in paths


async def test_lookup_by_national_id_uses_the_keyed_hash_and_answers_masked(env, tokens):
    body = person()
    b = await env.enrol(
        **{k: v for k, v in body.items() if k != "national_id"}, national_id=body["national_id"]
    )
    r = await env.v.post(
        "/v1/beneficiaries/lookup", headers=env.officer, json={"national_id": body["national_id"]}
    )
    assert r.status_code == 200 and r.json()["id"] == b["id"]
    assert body["national_id"] not in r.text
    missing = await env.v.post(
        "/v1/beneficiaries/lookup", headers=env.officer, json={"national_id": make_national_id()}
    )
    assert missing.status_code == 404
    # enrolled in another region: exactly the answer of an ID nobody enrolled
    elsewhere = await env.v.post(
        "/v1/beneficiaries/lookup",
        headers=env.other_officer,
        json={"national_id": body["national_id"]},
    )
    assert (elsewhere.status_code, elsewhere.json()) == (404, missing.json())
    assert (
        await env.v.post(
            "/v1/beneficiaries/lookup",
            headers=tokens.headers("beneficiary"),
            json={"national_id": body["national_id"]},
        )
    ).status_code == 403
    bad = await env.v.post(
        "/v1/beneficiaries/lookup", headers=env.officer, json={"national_id": "123"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "national_id"


async def test_a_location_set_from_the_community_centre_is_marked_approximate(env):
    """Home visits skip the radius check for such a location (tests/voucher/redeem/
    test_visits.py); enrolment records which kind it is, exact by default."""
    exact = person()
    approx = {**person(), "location_approximate": True}
    for body, expected in ((exact, False), (approx, True)):
        r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
        assert r.status_code == 201, r.text
        got = (await env.v.get(f"/v1/beneficiaries/{r.json()['id']}", headers=env.officer)).json()
        assert got["location_approximate"] is expected
    r = await env.v.post(
        "/v1/beneficiaries",
        headers=env.officer,
        json={**person(), "location_approximate": "maybe"},
    )
    assert r.status_code == 422


async def test_an_account_is_authorised_once_however_many_grants_race(env):
    """Officers (or a resubmitted form) granting the same family account at once: one live
    authorisation, the others refused PROXY_EXISTS with nothing written; after a revoke the
    account can be authorised again."""
    b = await env.enrol()
    url = f"/v1/beneficiaries/{b['id']}/proxies"
    body = {"proxy_sub": "proxy:son", "name": "李明", "relation": "儿子"}
    answers = await asyncio.gather(
        *(env.v.post(url, headers=env.officer, json=body) for _ in range(6))
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 5
    refused = [r.json()["error"] for r in answers if r.status_code == 409]
    assert {(e["code"], e["field"]) for e in refused} == {("PROXY_EXISTS", "proxy_sub")}
    rows = await env.fetch(
        "SELECT id, status FROM proxy_authorisation WHERE beneficiary_id = $1",
        uuid.UUID(b["id"]),
    )
    assert [r["status"] for r in rows] == ["active"]

    # another account for the same person, and the same account for another person, are fine
    other = await env.enrol()
    for target, sub in ((b["id"], "proxy:daughter"), (other["id"], "proxy:son")):
        r = await env.v.post(
            f"/v1/beneficiaries/{target}/proxies",
            headers=env.officer,
            json={**body, "proxy_sub": sub},
        )
        assert r.status_code == 201, r.text

    revoked = await env.v.post(f"{url}/{rows[0]['id']}/revoke", headers=env.officer)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = await env.v.post(url, headers=env.officer, json=body)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != str(rows[0]["id"])
