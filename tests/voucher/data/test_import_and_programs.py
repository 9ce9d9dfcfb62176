"""Bulk enrolment from CSV and XLSX (per-row results, duplicates found), and programs as
versioned configuration (defaults at start, edits create versions, history kept)."""

from __future__ import annotations

import io
import uuid

import asyncpg
import pytest
from openpyxl import Workbook

from services.common.db import asyncpg_connect_kwargs
from tests.voucher.data.conftest import DISTRICT, OTHER_CITY_DISTRICT, make_national_id

HEADER = [
    "national_id",
    "name",
    "phone",
    "region_code",
    "address",
    "care_setting",
    "dibao",
    "self_care",
    "motor",
    "mental",
    "perception_social",
    "coma",
    "dementia",
    "care_risk_events",
    "assessed_on",
    "assessor",
]


def row(nid=None, **over):
    base = {
        "national_id": nid or make_national_id(),
        "name": "王五",
        "phone": "13800138000",
        "region_code": DISTRICT,
        "address": "地址",
        "care_setting": "home",
        "dibao": "否",
        "self_care": "15",
        "motor": "8",
        "mental": "10",
        "perception_social": "7",
        "coma": "",
        "dementia": "",
        "care_risk_events": "",
        "assessed_on": "2026-06-01",
        "assessor": "中心",
    }
    base.update(over)
    return [base[h] for h in HEADER]


def as_csv(rows) -> bytes:
    lines = [",".join(HEADER)] + [",".join(str(c) for c in r) for r in rows]
    return ("\ufeff" + "\n".join(lines) + "\n").encode()


def as_xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in rows:
        sheet.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


async def test_csv_import_gives_a_result_per_row_and_finds_duplicates(env):
    existing = await env.enrol()
    existing_nid = (await env.fetch("SELECT id FROM beneficiary"))[0]["id"]
    dup_nid = make_national_id()
    rows = [
        row(),  # 2 created
        row(dup_nid, coma="1"),  # 3 created, grade 4 (coma)
        row(dup_nid),  # 4 duplicate within the file
        row("450103195003150019"),  # 5 bad check digit
        row(region_code=OTHER_CITY_DISTRICT),  # 6 outside the officer's region
        row(self_care="40"),  # 7 score out of range
        row(care_setting="hotel"),  # 8 bad enum
        row(dibao="maybe"),  # 9 bad boolean
        row(assessed_on="someday"),  # 10 bad date
        row(phone="12"),  # 11 bad phone
    ]
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={"file": ("people.csv", as_csv(rows), "text/csv")},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["total"], out["created"], out["duplicates"], out["errors"]) == (10, 2, 1, 7)
    by_row = {x["row"]: x for x in out["rows"]}
    assert by_row[3]["grade"] == 4 and by_row[2]["grade"] == 3
    assert by_row[4]["status"] == "duplicate" and by_row[4]["id"] == by_row[3]["id"]
    errors = {n: (by_row[n]["error"]["code"], by_row[n]["error"]["field"]) for n in range(5, 12)}
    assert errors == {
        5: ("INVALID_NATIONAL_ID", "national_id"),
        6: ("OUT_OF_SCOPE", "region_code"),
        7: ("SCORE_OUT_OF_RANGE", "assessment.scores.self_care"),
        8: ("INVALID_VALUE", "care_setting"),
        9: ("INVALID_VALUE", "dibao"),
        10: ("INVALID_VALUE", "assessed_on"),
        11: ("INVALID_PHONE", "phone"),
    }
    assert await env.fetchval("SELECT count(*) FROM beneficiary") == 3
    assert await env.fetchval("SELECT count(*) FROM assessment") == 3
    assert existing["id"] == str(existing_nid)

    # importing the same file again creates nobody
    again = (
        await env.v.post(
            "/v1/beneficiaries/import",
            headers=env.officer,
            files={"file": ("people.csv", as_csv(rows[:3]))},
        )
    ).json()
    assert (again["created"], again["duplicates"]) == (0, 3)
    assert await env.fetchval("SELECT count(*) FROM beneficiary") == 3


async def test_xlsx_import(env):
    await env.appropriate(10_000_000)
    rows = [row(), row(care_setting="institution")]
    rows[0][HEADER.index("self_care")] = 15  # numbers as numbers, as Excel stores them
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={
            "file": (
                "people.xlsx",
                as_xlsx(rows),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    # imported people get the current month at once too
    faces = sorted(
        x["face_fen"]
        for x in await env.fetch(
            "SELECT face_fen FROM voucher WHERE program_code = 'disability_subsidy'"
        )
    )
    assert faces == [50_000, 80_000]


async def test_unreadable_files_are_refused_and_change_nothing(env, tokens):
    before = await env.snapshot()
    cases = [
        (b"", "UNSUPPORTED_FILE"),
        (b"\xff\xfe\x00garbage", "UNSUPPORTED_FILE"),
        (b"PK\x03\x04not really a workbook", "UNSUPPORTED_FILE"),
        ("name,phone\n张三,13800138000\n".encode(), "MISSING_COLUMNS"),
    ]
    for content, code in cases:
        r = await env.v.post(
            "/v1/beneficiaries/import", headers=env.officer, files={"file": ("x.csv", content)}
        )
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, "file")
    r = await env.v.post("/v1/beneficiaries/import", headers=env.officer)
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"
    for headers in (tokens.headers("finance", region="450000"), tokens.headers("beneficiary")):
        r = await env.v.post(
            "/v1/beneficiaries/import", headers=headers, files={"file": ("p.csv", as_csv([row()]))}
        )
        assert r.status_code == 403
    # wrong scope: every row is refused on its own
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.other_officer,
        files={"file": ("p.csv", as_csv([row()]))},
    )
    assert r.json()["rows"][0]["error"]["code"] == "OUT_OF_SCOPE"
    assert await env.snapshot() == before


# --- programs ------------------------------------------------------------------------------


async def test_defaults_are_loaded_at_start_and_edits_create_versions(env, tokens):
    r = await env.v.get("/v1/programs", headers=env.officer)
    assert r.status_code == 200
    progs = {p["code"]: p for p in r.json()}
    assert set(progs) == {"disability_subsidy", "meal_assistance", "nursing_subsidy"}
    assert all(p["version"] == 1 for p in progs.values())
    config = progs["disability_subsidy"]["config"]
    config["settings"]["home"]["face_fen"] = 60_000

    put = await env.v.put(
        "/v1/programs/disability_subsidy",
        headers=env.province,
        json={"config": config, "reason": "2027 标准上调", "expected_version": 1},
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2
    assert put.json()["config"]["settings"]["home"]["face_fen"] == 60_000
    history = (
        await env.v.get("/v1/programs/disability_subsidy/versions", headers=env.officer)
    ).json()
    assert [(h["version"], h["changed_by"], h["reason"]) for h in history] == [
        (1, "system:defaults", "initial defaults"),
        (2, "officer:gx", "2027 标准上调"),
    ]
    assert history[0]["config"]["settings"]["home"]["face_fen"] == 50_000

    # new vouchers use the new version
    await env.appropriate(10_000_000)
    b = await env.enrol()
    v = next(x for x in b["vouchers"] if x["program_code"] == "disability_subsidy")
    assert v["face_fen"] == 60_000
    assert (
        await env.fetchval(
            "SELECT program_version FROM voucher WHERE program_code = 'disability_subsidy'"
        )
        == 2
    )

    before = await env.snapshot()
    # a stale edit is refused
    stale = await env.v.put(
        "/v1/programs/disability_subsidy",
        headers=env.province,
        json={"config": config, "reason": "x", "expected_version": 1},
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "PROGRAM_VERSION_CONFLICT"
    # bad configuration, no reason, unknown program
    bad = dict(config, funding_shares={"central": 5000})
    r = await env.v.put(
        "/v1/programs/disability_subsidy", headers=env.province, json={"config": bad, "reason": "x"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("config")
    r = await env.v.put(
        "/v1/programs/disability_subsidy",
        headers=env.province,
        json={"config": config, "reason": ""},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = await env.v.put(
        "/v1/programs/golf", headers=env.province, json={"config": config, "reason": "x"}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROGRAM_NOT_FOUND"
    # wrong scope (a city officer) and wrong role
    assert (
        await env.v.put(
            "/v1/programs/disability_subsidy",
            headers=env.officer,
            json={"config": config, "reason": "x"},
        )
    ).status_code == 403
    assert (
        await env.v.put(
            "/v1/programs/disability_subsidy",
            headers=tokens.headers("finance", region="450000"),
            json={"config": config, "reason": "x"},
        )
    ).status_code == 403
    assert (
        await env.v.get("/v1/programs", headers=tokens.headers("beneficiary"))
    ).status_code == 403
    # the history cannot be rewritten by the service's own database role
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(env.vdb.app_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE program_version SET reason = 'nothing happened'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM cash_benefit WHERE id = $1", uuid.uuid4())
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM request_key")
    finally:
        await conn.close()
    assert await env.snapshot() == before


async def test_the_ledger_asks_this_service_which_programmes_exist(env):
    """Finance's appropriation names a programme; the ledger asks this service (its owner,
    GET /v1/programs/{code} with a service token) and refuses a code it does not know."""
    ledger_entries = await env.ledger_fetchval("SELECT count(*) FROM entry")
    r = await env.ledger.post(
        "/v1/appropriations",
        headers=env.finance,
        json={
            "idempotency_key": f"appr:{uuid.uuid4()}",
            "program_code": "nursing_subsidy_x",
            "region_code": "450100",
            "by_source": {"central": 1_000},
            "memo": "预算下达",
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNKNOWN_PROGRAM", r.text
    assert await env.ledger_fetchval("SELECT count(*) FROM entry") == ledger_entries
    await env.appropriate(1_000, program="nursing_subsidy")  # one it knows: 201


async def test_import_does_not_tell_the_id_of_a_person_enrolled_in_another_city(env):
    """A national ID is enrolled once in the province, so the row is a duplicate, but the
    officer who imports it learns nothing more about a person outside their region."""
    nid = make_national_id()
    elsewhere = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.other_officer,
        files={"file": ("people.csv", as_csv([row(nid, region_code=OTHER_CITY_DISTRICT)]))},
    )
    assert elsewhere.json()["rows"][0]["status"] == "created", elsewhere.text
    theirs = elsewhere.json()["rows"][0]["id"]

    here = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={"file": ("people.csv", as_csv([row(nid)]))},
    )
    assert here.status_code == 200, here.text
    [result] = here.json()["rows"]
    assert result["status"] == "duplicate"
    assert result["id"] is None
    assert theirs not in here.text

    # the officer of that city is told whom the row names
    again = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.other_officer,
        files={"file": ("people.csv", as_csv([row(nid, region_code=OTHER_CITY_DISTRICT)]))},
    )
    assert again.json()["rows"][0] == {
        **again.json()["rows"][0],
        "status": "duplicate",
        "id": theirs,
    }


async def test_the_template_filled_in_chinese_imports_and_errors_name_the_column(env, tokens):
    """The officer's own sheet: the template's Chinese headings (any order), 居家/机构 and
    是/否 as written; a refused row names its column by that heading. Another role gets no
    template."""
    await env.appropriate(10_000_000)
    r = await env.v.get("/v1/imports/templates/beneficiaries", headers=env.officer)
    assert r.status_code == 200, r.text
    columns = r.json()
    by_name = {c["name"]: c for c in columns}
    assert by_name["national_id"]["heading"] == "身份证号" and by_name["national_id"]["required"]
    assert not by_name["phone"]["required"] and "居家" in by_name["care_setting"]["meaning"]
    r = await env.v.get(
        "/v1/imports/templates/beneficiaries", params={"format": "xlsx"}, headers=env.officer
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats"
    )
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    headings = [c.value for c in next(sheet.iter_rows())]
    assert headings == [c["heading"] for c in columns] and sheet.max_row == 1  # no sample
    # the ID, phone and region columns are text: an 18-digit ID typed in stays whole
    text_formatted = {
        headings[i] for i in range(len(headings))
        if sheet.column_dimensions[chr(ord("A") + i)].number_format == "@"
    }  # fmt: skip
    assert {"身份证号", "联系电话", "行政区划代码", "户籍区划代码"} <= text_formatted
    assert "姓名" not in text_formatted
    # filled in, columns reordered, values as an officer writes them
    order = list(reversed(headings))
    values = {
        "身份证号": make_national_id(),
        "姓名": "韦秀英",
        "行政区划代码": DISTRICT,
        "居住地址": "南宁市青秀区民族大道100号",
        "照护方式": "机构",
        "低保": "是",
        "自理能力": "15",
        "基础运动能力": "8",
        "精神状态": "10",
        "感知觉与社会参与": "7",
        "评估日期": "2026-06-01",
        "评估员": "评估中心",
    }
    bad = {**values, "身份证号": make_national_id(), "照护方式": "家里"}
    lines = [",".join(order)] + [",".join(v.get(h, "") for h in order) for v in (values, bad)]
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={"file": ("名单.csv", ("\n".join(lines) + "\n").encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    created, refused = r.json()["rows"]
    assert created["status"] == "created", created
    assert refused["status"] == "error"
    assert refused["error"]["field"] == "care_setting" and refused["error"]["column"] == "照护方式"
    stored = await env.fetch(
        "SELECT care_setting, dibao FROM beneficiary WHERE id = $1::uuid", created["id"]
    )
    assert [tuple(s) for s in stored] == [("institution", True)]
    for role in ("auditor", "finance", "provider_admin"):
        r = await env.v.get("/v1/imports/templates/status", headers=tokens.headers(role))
        assert r.status_code == 403, role


async def test_an_id_excel_took_for_a_number_is_named_as_such(env):
    """An ID typed into a number cell reaches the file as 4.5010319491231E+17 (15 digits
    kept; no workbook holds 18 digits as a number): the row says so, rather than "not a
    valid ID"; typed into a text cell it imports. A sheet without the 低保 column means 否."""
    await env.appropriate(10_000_000)
    whole, mangled = make_national_id(), make_national_id()
    headings = ["身份证号", "姓名", "行政区划代码", "居住地址", "照护方式", "自理能力",
                "基础运动能力", "精神状态", "感知觉与社会参与", "评估日期", "评估员"]  # fmt: skip
    book = Workbook()
    sheet = book.active
    sheet.append(headings)
    rest = ["韦秀英", DISTRICT, "地址", "居家", 15, 8, 10, 7, "2026-06-01", "中心"]
    sheet.append([float(mangled[:15] + "000"), *rest])  # as Excel stores a typed 18-digit ID
    sheet.append([whole, *rest])  # typed into a text cell: whole
    buf = io.BytesIO()
    book.save(buf)
    r = await env.v.post(
        "/v1/beneficiaries/import",
        headers=env.officer,
        files={"file": ("名单.xlsx", buf.getvalue(), "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    lost, kept = r.json()["rows"]
    assert lost["status"] == "error" and lost["error"]["code"] == "NATIONAL_ID_AS_NUMBER"
    assert lost["error"]["column"] == "身份证号"
    assert kept["status"] == "created", kept
    dibao = await env.fetchval("SELECT dibao FROM beneficiary WHERE id = $1::uuid", kept["id"])
    assert dibao is False
