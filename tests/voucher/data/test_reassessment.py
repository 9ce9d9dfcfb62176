"""Profile and reassessment (issue 15, part 3), through the API on real PostgreSQL: an
officer's audited profile edit (personal data encrypted, masked, never in the audit in
clear), the reassessment due list and its exports, issuance skipping a lapsed assessment
with that reason recorded, a new assessment counting from the next period, and the
quarterly spot reassessment draw (reproducible, recorded, once per region and quarter even
when two ask at once). Each with the wrong role and the wrong region refused."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import date, timedelta

from openpyxl import load_workbook

from services.voucher.service import spot_rules
from services.voucher.service.assessment import next_period_start
from services.voucher.service.issuance import add_months_period
from tests.voucher.data.conftest import CITY, DISTRICT, OTHER_CITY_DISTRICT, OTHER_DISTRICT
from tests.voucher.data.test_lifecycle import change, today

MILD = {"self_care": 30, "motor": 15, "mental": 25, "perception_social": 15}  # total 85: grade 1
SEVERE = {"self_care": 15, "motor": 8, "mental": 10, "perception_social": 7}  # 40: grade 3


def assessed(days_ago: int) -> dict:
    return {
        "scores": SEVERE,
        "flags": {},
        "assessed_on": (today() - timedelta(days=days_ago)).isoformat(),
        "assessor": "南宁市评估中心",
    }


async def test_profile_edit_is_audited_encrypted_and_masked(env):
    b = await env.enrol(name="陈秀兰", phone="13800001111")
    bid = b["id"]
    url = f"/v1/beneficiaries/{bid}"
    edit = {
        "phone": "13912345678",
        "address": "青秀区桃源路2号",
        "lat": 22.81,
        "lon": 108.32,
        "location_approximate": True,
        "contact": {"name": "陈明", "relation": "儿子", "phone": "13711112222"},
        "care_setting": "community",
        "reason": "家属来电更正",
    }
    r = await env.v.patch(url, headers=env.officer, json=edit)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["phone_masked"] == "139****5678"
    assert got["contact"] == {
        "name_masked": "陈*",
        "relation": "儿子",
        "phone_masked": "137****2222",
    }
    assert (got["address"], got["lat"], got["lon"]) == ("青秀区桃源路2号", 22.81, 108.32)
    assert got["location_approximate"] is True and got["care_setting"] == "community"
    assert "13912345678" not in r.text and "13711112222" not in r.text

    # stored encrypted; the audit names the fields, never their values
    row = (
        await env.fetch(
            "SELECT phone_enc, contact_enc FROM beneficiary WHERE id = $1", uuid.UUID(bid)
        )
    )[0]
    for blob in row:
        assert b"1391234" not in blob and b"1371111" not in blob and "陈明".encode() not in blob
    audit = await env.fetch("SELECT * FROM beneficiary_profile_change")
    assert len(audit) == 1
    assert audit[0]["fields"] == [
        "phone",
        "address",
        "location",
        "location_approximate",
        "contact",
        "care_setting",
    ]
    assert audit[0]["created_by"] == "officer:nanning" and audit[0]["reason"] == "家属来电更正"
    assert b"13800001111" not in audit[0]["previous_enc"]
    history = await env.v.get(f"{url}/profile-changes", headers=env.officer)
    assert history.status_code == 200
    assert history.json()[0]["fields"][0] == "phone"
    assert "1380000" not in history.text and "13912345678" not in history.text

    # the roster finds the new phone's last four, not the old one's
    roster = await env.v.get("/v1/beneficiaries", headers=env.officer, params={"q": "5678"})
    assert [p["name"] for p in roster.json()["items"]] == ["陈秀兰"]
    assert (await env.v.get("/v1/beneficiaries", headers=env.officer, params={"q": "1111"})).json()[
        "items"
    ] == []

    # only what changed is audited; the same values again write nothing
    r = await env.v.patch(url, headers=env.officer, json={"care_setting": "community"})
    assert r.status_code == 200
    r = await env.v.patch(url, headers=env.officer, json={"contact": None, "phone": None})
    assert r.status_code == 200 and r.json()["contact"] is None and r.json()["phone_masked"] is None
    fields = [
        row["fields"]
        for row in await env.fetch(
            "SELECT fields FROM beneficiary_profile_change ORDER BY created_at"
        )
    ]
    assert fields[1:] == [["phone", "contact"]]

    # refusals change nothing
    before = await env.snapshot()
    count = await env.fetchval("SELECT count(*) FROM beneficiary_profile_change")
    for body, field in (
        ({"lat": 22.8}, "lat"),
        ({"address": None}, "address"),
        ({"phone": "12345"}, "phone"),
        ({"care_setting": "moon"}, "care_setting"),
        ({"national_id": "x"}, "national_id"),
    ):
        r = await env.v.patch(url, headers=env.officer, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"].startswith(field), r.text
    other = await env.v.patch(url, headers=env.other_officer, json={"address": "别处"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    assert (await env.v.get(f"{url}/profile-changes", headers=env.other_officer)).status_code == 404
    for role in ("beneficiary", "finance", "provider_admin"):
        r = await env.v.patch(
            url, headers=env.tokens.headers(role, region=CITY), json={"address": "x"}
        )
        assert r.status_code == 403, role
    assert (await env.v.patch(url, json={"address": "x"})).status_code == 401
    assert await env.snapshot() == before
    assert await env.fetchval("SELECT count(*) FROM beneficiary_profile_change") == count

    # a deceased person's record is closed
    assert (await change(env, bid, status="deceased")).status_code == 201
    r = await env.v.patch(url, headers=env.officer, json={"address": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "BENEFICIARY_RECORD_CLOSED"
    r = await env.v.post(f"{url}/assessments", headers=env.officer, json=assessed(0))
    assert r.status_code == 409


async def test_due_list_pages_and_exports(env):
    await env.appropriate(10_000_000)
    soon = await env.enrol(name="甲", assessment=assessed(340))  # lapses in ~25 days
    later = await env.enrol(name="乙", assessment=assessed(320))  # in ~45 days
    lapsed = await env.enrol(name="丙", assessment=assessed(400))  # lapsed
    await env.enrol(name="丁", assessment=assessed(0))  # valid a year
    await env.enrol(name="戊", region_code=OTHER_DISTRICT, assessment=assessed(350))
    gone = await env.enrol(name="己", assessment=assessed(350))
    assert (await change(env, gone["id"], status="exited")).status_code == 201

    async def due(headers=None, **params):
        return await env.v.get(
            "/v1/reassessments/due", headers=headers or env.officer, params=params
        )

    r = await due()
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["within_days"] == 60
    assert [e["name"] for e in page["items"]] == ["丙", "戊", "甲", "乙"]
    first = page["items"][0]
    assert first["lapsed"] is True and first["days_left"] < 0 and first["id"] == lapsed["id"]
    assert page["items"][2]["id"] == soon["id"] and 0 <= page["items"][2]["days_left"] <= 60
    assert [e["name"] for e in (await due(within_days=30)).json()["items"]] == ["丙", "戊", "甲"]
    assert [e["name"] for e in (await due(region_code=OTHER_DISTRICT)).json()["items"]] == ["戊"]
    assert later["id"] in {e["id"] for e in page["items"]}
    # keyset pages
    seen, cursor = [], None
    while True:
        p = (await due(limit=1, **({"cursor": cursor} if cursor else {}))).json()
        seen += [e["name"] for e in p["items"]]
        cursor = p["next_cursor"]
        if not cursor:
            break
    assert seen == ["丙", "戊", "甲", "乙"]
    # exports, masked
    c = await due(format="csv")
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert table[0][0] == "姓名" and [row[0] for row in table[1:]] == ["丙", "戊", "甲", "乙"]
    assert table[1][6] == "是"
    x = await due(format="xlsx", within_days=30)
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["丙", "戊", "甲"]
    assert "*" in table[1][1]
    # scope and role
    assert (await due(headers=env.other_officer)).json()["items"] == []
    r = await due(headers=env.other_officer, region_code=DISTRICT)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    for role in ("beneficiary", "finance", "auditor"):
        assert (await due(headers=env.tokens.headers(role, region=CITY))).status_code == 403
    assert (await due(cursor="junk")).status_code == 422


async def run(env, period=None, region=CITY, headers=None):
    return await env.v.post(
        "/v1/issuance-runs",
        headers=headers or env.officer,
        json={
            "program_code": "disability_subsidy",
            "period": period or env.period,
            "region_code": region,
        },
    )


async def test_issuance_skips_a_lapsed_assessment_with_the_reason(env):
    await env.appropriate(10_000_000)
    ok = await env.enrol(name="有效")
    lapsed = await env.enrol(name="过期", assessment=assessed(400))
    assert ok["vouchers"] and not lapsed["vouchers"] and not lapsed["eligible_programs"]
    r = await run(env)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["skip_reasons"] == {"assessment_lapsed": 1}
    assert (out["eligible"], out["issued"], out["skipped"]) == (1, 0, 1)
    progress = (await env.v.get(f"/v1/issuance-runs/{out['run_id']}", headers=env.officer)).json()
    assert progress["skip_reasons"] == {"assessment_lapsed": 1}
    skips = await env.v.get(f"/v1/issuance-runs/{out['run_id']}/skips", headers=env.officer)
    assert skips.json() == [{"beneficiary_id": lapsed["id"], "reason": "assessment_lapsed"}]
    assert (
        await env.fetchval(
            "SELECT count(*) FROM voucher WHERE beneficiary_id = $1", uuid.UUID(lapsed["id"])
        )
        == 0
    )
    # the skip list is the run's region's: another city's officer may not read it
    other = await env.v.get(f"/v1/issuance-runs/{out['run_id']}/skips", headers=env.other_officer)
    assert other.status_code == 403
    beneficiary = env.tokens.headers("beneficiary", sub=lapsed["id"])
    assert (
        await env.v.get(f"/v1/issuance-runs/{out['run_id']}/skips", headers=beneficiary)
    ).status_code == 403


async def test_a_new_assessment_counts_from_the_next_period(env):
    await env.appropriate(10_000_000)
    person = await env.enrol(name="复评")
    bid = person["id"]
    before = await env.fetch(
        "SELECT id, face_fen, balance_fen, status FROM voucher WHERE beneficiary_id = $1",
        uuid.UUID(bid),
    )
    assert len(before) == 1
    body = {"scores": MILD, "flags": {}, "assessed_on": today().isoformat(), "assessor": "复评组"}
    r = await env.v.post(f"/v1/beneficiaries/{bid}/assessments", headers=env.officer, json=body)
    assert r.status_code == 201, r.text
    new = r.json()
    nxt = next_period_start(today())
    assert (new["grade"], new["effective_from"]) == (1, nxt.isoformat())
    got = (await env.v.get(f"/v1/beneficiaries/{bid}", headers=env.officer)).json()
    assert (got["grade"], got["grade_from"], got["prior_grade"]) == (1, nxt.isoformat(), 3)
    history = (await env.v.get(f"/v1/beneficiaries/{bid}/assessments", headers=env.officer)).json()
    assert [a["grade"] for a in history] == [1, 3] and history[0][
        "effective_from"
    ] == nxt.isoformat()

    # this period: the voucher stays as it was, and a run still counts them eligible
    this = (await run(env)).json()
    assert (this["eligible"], this["issued"], this["skip_reasons"]) == (1, 0, {})
    after = await env.fetch(
        "SELECT id, face_fen, balance_fen, status FROM voucher WHERE beneficiary_id = $1",
        uuid.UUID(bid),
    )
    assert after == before
    # the next period: grade 1 is not eligible, nothing issued
    nxt_period = add_months_period(env.period, 1)
    out = (await run(env, period=nxt_period)).json()
    assert (out["eligible"], out["issued"]) == (0, 0), out

    # a lapsed person reassessed now is still skipped this period and paid from the next
    lapsed = await env.enrol(name="补评", assessment=assessed(400))
    renewed = {**assessed(0), "assessor": "复评组"}
    r = await env.v.post(
        f"/v1/beneficiaries/{lapsed['id']}/assessments", headers=env.officer, json=renewed
    )
    assert r.status_code == 201, r.text
    this = (await run(env)).json()
    assert this["skip_reasons"] == {"assessment_lapsed": 1}
    out = (await run(env, period=nxt_period)).json()
    assert (out["eligible"], out["issued"]) == (1, 1), out
    issued = await env.fetch(
        "SELECT period FROM voucher WHERE beneficiary_id = $1", uuid.UUID(lapsed["id"])
    )
    assert [r["period"] for r in issued] == [nxt_period]

    # refused: another region's officer, the wrong role, scores out of range
    snapshot = await env.snapshot()
    url = f"/v1/beneficiaries/{bid}/assessments"
    r = await env.v.post(url, headers=env.other_officer, json=body)
    assert r.status_code == 404 and r.json()["error"]["code"] == "BENEFICIARY_NOT_FOUND"
    assert (await env.v.get(url, headers=env.other_officer)).status_code == 404
    for role in ("beneficiary", "finance"):
        assert (
            await env.v.post(url, headers=env.tokens.headers(role, region=CITY), json=body)
        ).status_code == 403
    bad = {**body, "scores": {**MILD, "motor": 99}}
    r = await env.v.post(url, headers=env.officer, json=bad)
    assert r.status_code == 422 and r.json()["error"]["code"] == "SCORE_OUT_OF_RANGE"
    assert await env.snapshot() == snapshot


async def test_spot_draw_is_reproducible_recorded_and_drawn_once(env):
    ids = [uuid.UUID((await env.enrol(name=f"抽{i}"))["id"]) for i in range(10)]
    gone = await env.enrol(name="退出")
    assert (await change(env, gone["id"], status="exited")).status_code == 201
    env.app.state.settings.spot_draw_share_bp = 2000  # the configured share: 20 %
    r = await env.v.post("/v1/spot-draws", headers=env.officer, json={"region_code": DISTRICT})
    assert r.status_code == 201, r.text
    draw = r.json()
    seed = draw["seed"]
    assert len(seed) == 32 and draw["share_bp"] == 2000
    quarter = spot_rules.quarter_of(today())
    assert (draw["quarter"], draw["population"], draw["drawn"], draw["recorded"]) == (
        quarter,
        10,
        2,
        False,
    )
    expected = spot_rules.draw(ids, seed=seed, region_code=DISTRICT, quarter=quarter, share_bp=2000)
    assert [uuid.UUID(m["beneficiary_id"]) for m in draw["members"]] == expected
    assert draw["population_hash"] == spot_rules.population_hash(ids)
    assert draw["created_by"] == "officer:nanning"
    assert all("*" in m["national_id_masked"] for m in draw["members"])
    # same inputs, any order: the same people
    assert (
        spot_rules.draw(
            list(reversed(ids)), seed=seed, region_code=DISTRICT, quarter=quarter, share_bp=2000
        )
        == expected
    )

    # asked again: the recorded draw, nothing new
    again = await env.v.post(
        "/v1/spot-draws",
        headers=env.officer,
        json={"region_code": DISTRICT},
    )
    assert (
        again.status_code == 200 and again.json()["id"] == draw["id"] and again.json()["recorded"]
    )
    assert again.json()["members"] == draw["members"]
    listed = (await env.v.get("/v1/spot-draws", headers=env.officer)).json()
    assert [d["id"] for d in listed] == [draw["id"]]
    one = await env.v.get(f"/v1/spot-draws/{draw['id']}", headers=env.officer)
    assert one.json()["members"] == draw["members"]
    c = await env.v.get(
        f"/v1/spot-draws/{draw['id']}", headers=env.officer, params={"format": "csv"}
    )
    rows = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert rows[0][0] == "顺序" and len(rows) == 3

    # a reassessment after the draw shows against the person drawn
    drawn = draw["members"][0]["beneficiary_id"]
    body = {"scores": SEVERE, "flags": {}, "assessed_on": today().isoformat(), "assessor": "抽查组"}
    assert (
        await env.v.post(f"/v1/beneficiaries/{drawn}/assessments", headers=env.officer, json=body)
    ).status_code == 201
    one = (await env.v.get(f"/v1/spot-draws/{draw['id']}", headers=env.officer)).json()
    assert one["members"][0]["reassessed_on"] == today().isoformat()
    assert one["members"][1]["reassessed_on"] is None

    # the caller picks neither the seed nor the share
    for extra in ({"seed": "mine-mine-mine"}, {"share_bp": 1}):
        r = await env.v.post(
            "/v1/spot-draws", headers=env.officer, json={"region_code": CITY, **extra}
        )
        assert r.status_code == 422, extra
    env.app.state.settings.spot_draw_share_bp = 300

    # two officers draw the same region and quarter at the same moment: one draw
    for i in range(6):
        await env.enrol(name=f"江南{i}", region_code=OTHER_DISTRICT)
    racing = await asyncio.gather(
        *(
            env.v.post("/v1/spot-draws", headers=env.officer, json={"region_code": OTHER_DISTRICT})
            for _ in range(2)
        )
    )
    assert sorted(r.status_code for r in racing) == [200, 201], [r.text for r in racing]
    assert racing[0].json()["id"] == racing[1].json()["id"]
    assert racing[0].json()["members"] == racing[1].json()["members"]
    assert (
        await env.fetchval("SELECT count(*) FROM spot_draw WHERE region_code = $1", OTHER_DISTRICT)
        == 1
    )
    assert (
        await env.fetchval(
            "SELECT count(*) FROM spot_draw_member m JOIN spot_draw d ON d.id = m.draw_id "
            "WHERE d.region_code = $1",
            OTHER_DISTRICT,
        )
        == 1
    )  # 300 bp of 6, rounded up

    # the race's losing path, made certain: another connection holds an uncommitted draw of
    # the city's quarter; the API's insert waits on the unique key and, once it commits,
    # answers that draw (200, recorded) and writes no second one
    other = await env.db()
    try:
        tx = other.transaction()
        await tx.start()
        held = uuid.uuid4()
        await other.execute(
            "INSERT INTO spot_draw (id, region_code, quarter, share_bp, seed, population,"
            " population_hash, drawn, created_by) VALUES ($1, $2, $3, 300, 'held-seed', 0,"
            " $4, 0, 'officer:other')",
            held,
            CITY,
            quarter,
            spot_rules.population_hash([]),
        )
        waiting = asyncio.create_task(
            env.v.post("/v1/spot-draws", headers=env.officer, json={"region_code": CITY})
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()  # blocked on the other connection's row
        await tx.commit()
        answer = await waiting
    finally:
        await other.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == str(held) and answer.json()["recorded"] is True
    assert await env.fetchval("SELECT count(*) FROM spot_draw WHERE region_code = $1", CITY) == 1

    # refused: a future quarter, another region, the wrong role
    nxt = next_period_start(date(today().year, ((today().month - 1) // 3) * 3 + 3, 1))
    future = spot_rules.quarter_of(nxt)
    r = await env.v.post("/v1/spot-draws", headers=env.officer, json={"quarter": future})
    assert r.status_code == 422 and r.json()["error"]["field"] == "quarter"
    r = await env.v.post("/v1/spot-draws", headers=env.officer, json={"quarter": "2026-Q5"})
    assert r.status_code == 422
    r = await env.v.post(
        "/v1/spot-draws", headers=env.other_officer, json={"region_code": DISTRICT}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    r = await env.v.get(f"/v1/spot-draws/{draw['id']}", headers=env.other_officer)
    assert r.status_code == 404 and r.json()["error"]["code"] == "SPOT_DRAW_NOT_FOUND"
    assert (await env.v.get("/v1/spot-draws", headers=env.other_officer)).json() == []
    for role in ("beneficiary", "finance", "auditor"):
        r = await env.v.post(
            "/v1/spot-draws", headers=env.tokens.headers(role, region=CITY), json={}
        )
        assert r.status_code == 403, role
    assert await env.fetchval("SELECT count(*) FROM spot_draw") == 3
    _ = OTHER_CITY_DISTRICT


async def test_the_scheduler_records_a_lapsed_assessment_too(env):
    from tests.voucher.data.test_scheduler import scheduler

    await env.appropriate(10_000_000)
    await env.enrol(name="有效")
    lapsed = await env.enrol(name="过期", assessment=assessed(400))
    s, db = scheduler(env, "scheduler:lapse")
    try:
        tick = await s.tick()
    finally:
        await db.dispose()
    disability = next(o for o in tick.outcomes if o.program_code == "disability_subsidy")
    run_id = await env.fetchval(
        "SELECT run_id FROM scheduled_issuance WHERE program_code = 'disability_subsidy'"
    )
    assert disability.status == "completed"
    skipped = await env.fetch(
        "SELECT beneficiary_id, reason FROM issuance_skip WHERE run_id = $1", run_id
    )
    assert [(str(r["beneficiary_id"]), r["reason"]) for r in skipped] == [
        (lapsed["id"], "assessment_lapsed")
    ]
    reasons = await env.fetchval("SELECT skip_reasons FROM issuance_run WHERE id = $1", run_id)
    assert '"assessment_lapsed": 1' in str(reasons)
