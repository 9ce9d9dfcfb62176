"""An officer's imports run in the background, part by part, with their progress kept in the
web's database (`import_job`, web/service/imports.py): the upload answers at once with the
job's page, the officer can leave and come back (the upload page lists their recent
imports), every row's result is shown at the end with its row number in the whole file, no
national ID is kept with the result, and another officer cannot open the job."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from tests.web.conftest import csrf_of
from tests.web.system import DISTRICT, OTHER_CITY, enrolment, import_finished, login
from web.service import imports

HEADER = (
    "national_id,name,phone,region_code,address,lat,lon,care_setting,dibao,"
    "self_care,motor,mental,perception_social,assessed_on,assessor"
)


def _line(person: dict, national_id: str | None = None) -> str:
    when = person["assessment"]["assessed_on"]
    return (
        f"{national_id or person['national_id']},{person['name']},13877100903,{DISTRICT},"
        f"青秀区一路1号,22.81,108.37,home,false,15,8,10,7,{when},评估中心"
    )


def test_a_file_is_cut_into_parts_each_with_its_header():
    content = b'a,b\n1,2\n\n3,4\n5,"x\ny"\n'
    parts = imports.split(content, "f.csv", 2)
    assert [(p.rows, p.offset) for p in parts] == [(2, 0), (1, 2)]
    assert parts[0].content == b"a,b\n1,2\n3,4\n"
    assert parts[1].content == b'a,b\n5,"x\ny"\n'  # a quoted line break stays in its cell
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["a", "b"])
    sheet.append([1.0, datetime(2026, 1, 2)])
    raw = io.BytesIO()
    book.save(raw)
    (only,) = imports.split(raw.getvalue(), "f.xlsx", 10)
    assert only.content == b"a,b\n1,2026-01-02\n" and only.rows == 1
    for bad in (b"", b"\xff\xfe", b"a\x00b"):
        try:
            imports.split(bad, "f.csv", 2)
        except imports.UnreadableFile:
            continue
        raise AssertionError(bad)


def test_answers_are_merged_with_the_rows_numbered_in_the_whole_file():
    merged: dict = {}
    imports.merge("status", merged, {"total": 2, "applied": 2, "rows": [{"row": 2}]}, 0)
    imports.merge("status", merged, {"total": 1, "errors": 1, "rows": [{"row": 2}]}, 2)
    assert merged == {
        "total": 3,
        "applied": 2,
        "unchanged": 0,
        "errors": 1,
        "rows": [{"row": 2}, {"row": 4}],
    }
    now = datetime.now(UTC)
    assert imports.is_stale("running", now - timedelta(minutes=5), now)
    assert not imports.is_stale("running", now - timedelta(seconds=5), now)
    assert not imports.is_stale("done", now - timedelta(days=5), now)


async def test_an_import_runs_in_parts_and_can_be_left_and_come_back_to(web):
    people = [enrolment(name, 930 + i) for i, name in enumerate(("丙", "丁", "戊"))]
    csv = "\n".join([HEADER, _line(people[0]), _line(people[1], "bad"), _line(people[2])])
    before = await web.count("voucher", "SELECT count(*) FROM beneficiary")
    async with web.other_web(import_chunk_rows=1) as app, web.client(app) as c:
        assert (await login(c, "officer", "correct-horse-9")).status_code == 303
        token = csrf_of((await c.get("/officer/import")).text)
        r = await c.post(
            "/officer/import",
            data={"csrf_token": token},
            files={"file": ("三人.csv", csv.encode(), "text/csv")},
        )
        assert r.status_code == 303  # answered at once: the job's page
        job_page = r.headers["location"]
        # leave (another page), then come back through the upload page's list
        assert (await c.get("/officer/issuance")).status_code == 200
        done = await import_finished(c, r)
        assert 'data-status="done"' in done.text and "已处理 <strong>3</strong> / 3 行" in done.text
        assert "共 3 行" in done.text and done.text.count("row-err") == 1
        listing = await c.get("/officer/import")
        assert f'href="{job_page}"' in listing.text and "三人.csv" in listing.text
        again = await c.get(job_page)  # reload: the same result, nothing sent again
        assert again.text.count("row-err") == 1
    assert await web.count("voucher", "SELECT count(*) FROM beneficiary") == before + 2
    row = await web.count(
        "web",
        "SELECT json_build_object('total', total_rows, 'done', done_rows, 'status', status,"
        " 'result', result)::text FROM import_job WHERE filename = '三人.csv'",
    )
    job = json.loads(row)
    assert job["total"] == job["done"] == 3 and job["status"] == "done"
    # row numbers of the whole file (row 1 is the header), though each part had its own
    assert [r["row"] for r in job["result"]["rows"]] == [2, 3, 4]
    assert all(p["national_id"] not in row for p in people)  # no national ID kept
    # another officer (another city) cannot open it; a finance clerk is refused
    await web.add_account(
        username="officer_lz_imports",
        role="civil_affairs",
        display_name="柳经办",
        region=OTHER_CITY,
    )
    async with web.signed_in("officer_lz_imports") as c:
        r = await c.get(job_page)
        assert r.status_code == 404 and "三人.csv" not in r.text
        assert "三人.csv" not in (await c.get("/officer/import")).text
    async with web.signed_in("finance") as c:
        assert (await c.get(job_page)).status_code == 403


async def test_a_refused_file_ends_the_job_with_its_reason(web):
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/status-import")).text)
        r = await c.post(
            "/officer/status-import",
            data={"csrf_token": token},
            files={"file": ("wrong.csv", b"name,when\nx,y\n", "text/csv")},
        )
        done = await import_finished(c, r)
        assert 'data-status="failed"' in done.text and 'role="alert"' in done.text
        assert "重新上传" in done.text
        # what is missing, by the headings an officer's sheet uses, and where the template is
        assert "文件缺少这些列：身份证号、事件、日期" in done.text and "模板" in done.text
        assert "重新上传同一个文件即可继续" not in done.text  # the same file would fail again
        r = await c.post(
            "/officer/status-import",
            data={"csrf_token": token},
            files={"file": ("empty.csv", b"\n\n", "text/csv")},
        )
        assert r.status_code == 422 and "文件是空的" in r.text


async def test_the_pages_say_how_to_fill_the_file_and_give_its_template(web):
    """Each import page lists the columns by their Chinese headings (必填 or 选填, what to
    write) and offers the empty file to fill in; the template downloaded and filled in is
    imported, and a refused row names its column as the sheet heads it."""
    from openpyxl import load_workbook

    async with web.signed_in("officer") as c:
        page = await c.get("/officer/import")
        assert "<strong>身份证号</strong>（必填）" in page.text
        assert (
            "<strong>联系电话</strong>（选填）" in page.text and "居家 / 社区 / 机构" in page.text
        )
        assert "national_id" not in page.text
        csv_file = await c.get("/officer/import/template.csv")
        assert csv_file.status_code == 200 and csv_file.content.startswith(b"\xef\xbb\xbf")
        assert "attachment" in csv_file.headers["content-disposition"]
        headings = csv_file.content.decode("utf-8-sig").strip().split(",")
        assert headings[:2] == ["身份证号", "姓名"] and "评估员" in headings
        book = await c.get("/officer/status-import/template.xlsx")
        assert book.status_code == 200
        sheet = load_workbook(io.BytesIO(book.content)).worksheets[0]
        status_headings = [cell.value for cell in next(sheet.iter_rows())]
        assert status_headings[:3] == ["身份证号", "事件", "日期"]
        assert (await c.get("/officer/import/template.pdf")).status_code == 404
        # the template filled in: one person right, one with a care setting nobody knows
        person = enrolment("己", 951)
        values = {
            "身份证号": person["national_id"],
            "姓名": person["name"],
            "行政区划代码": DISTRICT,
            "居住地址": "青秀区一路1号",
            "照护方式": "居家",
            "低保": "否",
            "自理能力": "15",
            "基础运动能力": "8",
            "精神状态": "10",
            "感知觉与社会参与": "7",
            "评估日期": person["assessment"]["assessed_on"],
            "评估员": "评估中心",
        }
        wrong = {**values, "身份证号": enrolment("庚", 952)["national_id"], "照护方式": "家里"}
        lines = [",".join(headings)] + [
            ",".join(v.get(h, "") for h in headings) for v in (values, wrong)
        ]
        token = csrf_of(page.text)
        r = await c.post(
            "/officer/import",
            data={"csrf_token": token},
            files={"file": ("模板.csv", "\n".join(lines).encode(), "text/csv")},
        )
        done = await import_finished(c, r)
        assert "共 2 行" in done.text and done.text.count("row-err") == 1
        assert "照护方式：填写的内容有误，请检查后再提交。应填：居家 / 社区 / 机构。" in done.text
        # the Excel template with an ID typed into a cell someone made a number: said so
        from openpyxl import Workbook

        filled = Workbook()
        sheet = filled.active
        sheet.append(headings)
        typed = enrolment("辛", 953)["national_id"]
        sheet.append(
            [float(typed[:15] + "000") if h == "身份证号" else values.get(h, "") for h in headings]
        )
        raw = io.BytesIO()
        filled.save(raw)
        r = await c.post(
            "/officer/import",
            data={"csrf_token": token},
            files={"file": ("名单.xlsx", raw.getvalue(), "application/octet-stream")},
        )
        done = await import_finished(c, r)
        assert "身份证号：身份证号被 Excel 当成了数字" in done.text
    async with web.signed_in("finance") as c:
        assert (await c.get("/officer/import/template.csv")).status_code == 403
