"""The officer's roster (GET /v1/beneficiaries): search, filters, keyset pages, masked
exports, scope. Timing on 100,000 people is measured by loadtests/roster.py, not here."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from openpyxl import load_workbook

from services.voucher.service.roster import fill_search_keys
from tests.voucher.data.conftest import DISTRICT, OTHER_DISTRICT, person
from tests.voucher.data.test_lifecycle import change, today


async def roster(env, headers=None, **params):
    r = await env.v.get("/v1/beneficiaries", headers=headers or env.officer, params=params)
    return r


async def names(env, **params) -> list[str]:
    r = await roster(env, **params)
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()["items"]]


async def test_search_filters_and_pages(env):
    await env.appropriate(10_000_000)
    due = (today() - timedelta(days=330)).isoformat()  # lapses within 60 days
    people = {
        "王桂兰": person(name="王桂兰", phone="13800001234"),
        "王建国": person(name="王建国", region_code=OTHER_DISTRICT, care_setting="community"),
        "李秀英": person(name="李秀英", phone="13900005678"),
        "赵淑珍": person(name="赵淑珍"),
    }
    people["赵淑珍"]["assessment"]["assessed_on"] = due
    ids = {}
    for name, body in people.items():
        r = await env.v.post("/v1/beneficiaries", headers=env.officer, json=body)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    assert await names(env) == sorted(people)
    assert await names(env, q="王") == ["王建国", "王桂兰"]
    assert await names(env, q="秀英") == ["李秀英"]
    last4 = people["李秀英"]["national_id"][-4:]
    assert "李秀英" in await names(env, q=last4)
    assert await names(env, q="1234") == ["王桂兰"]  # the phone's last four
    assert await names(env, region_code=OTHER_DISTRICT) == ["王建国"]
    assert "王建国" not in await names(env, region_code=DISTRICT)
    assert await names(env, care_setting="community") == ["王建国"]
    assert await names(env, reassessment_due="true") == ["赵淑珍"]
    assert len(await names(env, program_code="disability_subsidy")) == 4
    assert await names(env, program_code="nursing_subsidy") == []
    r = await change(env, ids["李秀英"], status="hospitalised")
    assert r.status_code == 201
    assert await names(env, status="hospitalised") == ["李秀英"]
    assert "李秀英" not in await names(env, status="active")
    assert await names(env, grade=3, q="赵") == ["赵淑珍"]

    # keyset pages: every person once, in order
    seen, cursor = [], None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await roster(env, **params)).json()
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(people)
    newest = (await roster(env, sort="created_at", limit=2)).json()
    assert [p["name"] for p in newest["items"]] == ["赵淑珍", "李秀英"]
    rest = (await roster(env, sort="created_at", cursor=newest["next_cursor"])).json()
    assert [p["name"] for p in rest["items"]] == ["王建国", "王桂兰"]

    # personal data masked, in the page and in the exports
    page = (await roster(env)).json()
    text = str(page)
    for body in people.values():
        assert body["national_id"] not in text and body["phone"] not in text
    entry = next(p for p in page["items"] if p["name"] == "王桂兰")
    assert entry["phone_masked"] == "138****1234"
    csv_r = await roster(env, format="csv")
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
    assert table[0][0] == "姓名" and len(table) == 5
    xlsx = await roster(env, format="xlsx", q="王")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["王建国", "王桂兰"]
    for content in (csv_r.content.decode("utf-8-sig"), str(list(sheet.values))):
        for body in people.values():
            assert body["national_id"] not in content and body["phone"] not in content


async def test_scope_role_and_bad_input(env):
    await env.enrol(name="周玉梅")
    # another city's officer sees none of them, and may not ask for this district
    assert (await roster(env, headers=env.other_officer)).json()["items"] == []
    r = await roster(env, headers=env.other_officer, region_code=DISTRICT)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    for role in ("beneficiary", "finance", "provider_admin"):
        assert (await roster(env, headers=env.tokens.headers(role))).status_code == 403
    assert (await env.v.get("/v1/beneficiaries")).status_code == 401
    unknown = await roster(env, program_code="no_such_program")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "PROGRAM_NOT_FOUND"
    for params, field in (
        ({"status": "gone"}, "status"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"region_code": "999999"}, "region_code"),
        ({"grade": 9}, "grade"),
        ({"format": "pdf"}, "format"),
    ):
        r = await roster(env, **params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field, r.text


async def test_people_enrolled_before_get_their_search_keys(env):
    b = await env.enrol(name="孙凤英", phone="13712349876")
    conn = await env.db()
    try:
        await conn.execute("UPDATE beneficiary SET national_id_last4 = NULL, phone_last4 = NULL")
    finally:
        await conn.close()
    assert await names(env, q="9876") == []
    assert await fill_search_keys(env.app.state.db, env.app.state.pii_cipher, batch=1) == 1
    assert await names(env, q="9876") == ["孙凤英"]
    assert (
        await env.fetchval("SELECT phone_last4 FROM beneficiary WHERE id = $1", uuid.UUID(b["id"]))
        == "9876"
    )


async def test_an_officer_lists_a_persons_cards_without_code_or_pin(env):
    b = await env.enrol(name="钱大爷")
    url = f"/v1/beneficiaries/{b['id']}/cards"
    assert (await env.v.get(url, headers=env.officer)).json() == []
    first = await env.v.post(url, headers=env.officer)
    second = await env.v.post(url, headers=env.officer)
    assert first.status_code == second.status_code == 201
    cards = (await env.v.get(url, headers=env.officer)).json()
    assert [c["status"] for c in cards] == ["active", "replaced"]
    assert cards[0]["id"] == second.json()["card_id"]
    text = str(cards)
    assert second.json()["pin"] not in text and second.json()["token"] not in text
    assert (await env.v.get(url, headers=env.other_officer)).status_code == 404
    me = env.tokens.headers("beneficiary", sub=b["id"])
    assert (await env.v.get(url, headers=me)).status_code == 403
