"""Bulk status import (POST /v1/status-imports): deaths and hospital stays from a CSV/XLSX
file, matched by the national ID's keyed hash, a result per row, idempotent on re-import."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from openpyxl import Workbook

from tests.voucher.data.conftest import OTHER_CITY, make_national_id, person
from tests.voucher.data.test_lifecycle import FACE, assert_books_agree, today

HEADER = ["national_id", "event", "date", "until", "evidence_ref"]


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def as_xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def send(env, content: bytes, name: str = "deaths.csv", headers=None):
    return await env.v.post(
        "/v1/status-imports", headers=headers or env.officer, files={"file": (name, content)}
    )


async def test_a_file_of_deaths_and_stays_is_applied_once(env):
    await env.appropriate(10_000_000)
    bodies = [person() for _ in range(4)]
    ids = [(await env.enrol(**b))["id"] for b in bodies]
    elsewhere = person(region_code="450202", id_region="450202")
    # enrolled in Liuzhou by its own officer: not the Nanning officer's to change
    r = await env.v.post("/v1/beneficiaries", headers=env.other_officer, json=elsewhere)
    assert r.status_code == 201, r.text
    d = today()
    rows = [
        [bodies[0]["national_id"], "死亡", (d - timedelta(days=2)).isoformat(), "", "死亡证明 1"],
        [
            bodies[1]["national_id"],
            "住院",
            (d - timedelta(days=1)).isoformat(),
            (d + timedelta(days=9)).isoformat(),
            "",
        ],
        [
            bodies[2]["national_id"],
            "hospitalised",
            (d - timedelta(days=9)).isoformat(),
            "",
            "",
        ],
        [bodies[2]["national_id"], "出院", (d - timedelta(days=3)).isoformat(), "", ""],
        [make_national_id(), "死亡", d.isoformat(), "", ""],
        [elsewhere["national_id"], "死亡", d.isoformat(), "", ""],
        [bodies[3]["national_id"], "升天", d.isoformat(), "", ""],
        [bodies[3]["national_id"], "死亡", "昨天", "", ""],
        ["110101", "死亡", d.isoformat(), "", ""],
        [bodies[3]["national_id"], "死亡", (d + timedelta(days=1)).isoformat(), "", ""],
    ]
    r = await send(env, as_csv(rows))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["total"], out["applied"], out["unchanged"], out["errors"]) == (10, 4, 0, 6)
    by_row = {x["row"]: x for x in out["rows"]}
    assert [by_row[n]["status"] for n in (2, 3, 4, 5)] == ["applied"] * 4
    assert by_row[2]["beneficiary_id"] == ids[0]
    codes = [(by_row[n]["error"]["code"], by_row[n]["error"]["field"]) for n in range(6, 12)]
    assert codes == [
        ("BENEFICIARY_NOT_FOUND", "national_id"),
        ("BENEFICIARY_NOT_FOUND", "national_id"),  # another region: like an unknown ID
        ("STATUS_IMPORT_ROW_INVALID", "event"),
        ("INVALID_VALUE", "date"),
        ("INVALID_NATIONAL_ID", "national_id"),
        ("EFFECTIVE_DATE_IN_FUTURE", "effective_on"),
    ]
    assert by_row[6]["error"] == by_row[7]["error"]
    for b in bodies:
        assert b["national_id"] not in r.text
    # what it did: the death released the voucher, the stay pauses, the old stay is over
    dead = await env.v.get(f"/v1/beneficiaries/{ids[0]}", headers=env.officer)
    assert dead.json()["status"] == "deceased"
    states = [
        (await env.v.get(f"/v1/beneficiaries/{i}", headers=env.officer)).json()["current_status"]
        for i in ids
    ]
    assert states == ["deceased", "hospitalised", "active", "active"]
    timeline = (
        await env.v.get(f"/v1/beneficiaries/{ids[0]}/status-changes", headers=env.officer)
    ).json()
    assert [(c["status"], c["source"], c["released_fen"]) for c in timeline] == [
        ("deceased", "import", FACE)
    ]
    await assert_books_agree(env)

    # the same file again (and as XLSX): nothing changes
    before = await env.snapshot()
    changes = await env.fetchval("SELECT count(*) FROM beneficiary_status_change")
    for content, name in ((as_csv(rows), "deaths.csv"), (as_xlsx(rows), "deaths.xlsx")):
        again = await send(env, content, name)
        assert again.status_code == 200, again.text
        assert (again.json()["applied"], again.json()["unchanged"], again.json()["errors"]) == (
            0,
            4,
            6,
        )
    assert await env.snapshot() == before
    assert await env.fetchval("SELECT count(*) FROM beneficiary_status_change") == changes


async def test_bad_files_and_callers_are_refused(env):
    before = await env.snapshot()
    bad = await send(env, b"national_id,date\n1,2\n")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "MISSING_COLUMNS"
    assert (await send(env, b"", "x.csv")).json()["error"]["code"] == "UNSUPPORTED_FILE"
    assert (await send(env, b"PK\x03\x04junk", "x.xlsx")).json()["error"]["code"] == (
        "UNSUPPORTED_FILE"
    )
    for headers in (
        env.tokens.headers("finance", region=OTHER_CITY),
        env.tokens.headers("beneficiary", sub=str(uuid.uuid4())),
        env.tokens.headers("auditor", region="450000"),
    ):
        assert (await send(env, as_csv([]), headers=headers)).status_code == 403
    assert (
        await env.v.post("/v1/status-imports", files={"file": ("x.csv", b"a")})
    ).status_code == 401
    assert await env.snapshot() == before


async def test_a_sheet_headed_in_chinese_is_read_and_its_errors_name_the_column(env):
    """The template's headings (身份证号, 事件, 日期, 出院日期, in any order) stand for the
    columns; a bad date is refused under its heading, 日期."""
    await env.appropriate(10_000_000)
    body = person()
    pid = (await env.enrol(**body))["id"]
    d = today()
    content = (
        "日期,事件,身份证号,出院日期\n"
        f"{(d - timedelta(days=1)).isoformat()},住院,{body['national_id']},"
        f"{(d + timedelta(days=5)).isoformat()}\n"
        f"去年,死亡,{body['national_id']},\n"
    ).encode()
    r = await send(env, content, "名单.csv")
    assert r.status_code == 200, r.text
    stay, refused = r.json()["rows"]
    assert stay["status"] == "applied" and stay["beneficiary_id"] == pid
    assert refused["status"] == "error" and refused["error"]["column"] == "日期"
    shown = await env.v.get(f"/v1/beneficiaries/{pid}", headers=env.officer)
    assert shown.json()["current_status"] == "hospitalised"
