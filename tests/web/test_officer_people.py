"""The officer's people pages (issue 15) against the real services: the roster (search,
pages, masked exports), a person's page with the status timeline, recording a status change
(a resubmitted form records it once), and the status file import. Another region's person
is "not found"; other roles are refused."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.web.conftest import csrf_of
from tests.web.system import DISTRICT, OTHER_CITY, enrolment, import_finished

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def _person(web, name: str, serial: int, region: str = DISTRICT) -> tuple[str, str]:
    body = enrolment(name, serial)
    if region != DISTRICT:
        body["region_code"] = "450202"
    r = await web.voucher.post("/v1/beneficiaries", headers=web.officer(region), json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"], body["national_id"]


async def test_roster_searches_pages_and_exports_masked(web):
    async with web.signed_in("officer") as c:
        r = await c.get("/officer/people")
        assert r.status_code == 200 and "王大爷" in r.text and "李奶奶" in r.text
        for nid in web.national_ids:
            assert nid not in r.text
        assert f"{web.national_ids[0][:4]}**********{web.national_ids[0][-4:]}" in r.text
        r = await c.get("/officer/people", params={"q": "王"})
        assert "王大爷" in r.text and "李奶奶" not in r.text
        r = await c.get("/officer/people", params={"q": web.national_ids[1][-4:]})
        assert "李奶奶" in r.text
        r = await c.get("/officer/people", params={"status": "deceased", "q": "王大爷"})
        assert "没有符合条件的老人" in r.text
        # a page at a time: the next page's link carries the filters
        more = await web.voucher.get(
            "/v1/beneficiaries", headers=web.officer(), params={"limit": 1}
        )
        assert more.json()["next_cursor"]
        csv_r = await c.get("/officer/people/export", params={"format": "csv", "q": "王"})
        assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
        assert table[0][0] == "姓名" and any(row[0] == "王大爷" for row in table[1:])
        for nid in web.national_ids:
            assert nid not in csv_r.text
        xlsx = await c.get("/officer/people/export", params={"format": "xlsx"})
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    async with web.signed_in("finance") as c:
        assert (await c.get("/officer/people")).status_code == 403


async def test_person_page_records_a_stay_once_and_shows_the_timeline(web):
    bid, _ = await _person(web, "周奶奶", 611)
    async with web.signed_in("officer") as c:
        r = await c.get(f"/officer/people/{bid}")
        assert r.status_code == 200 and "周奶奶" in r.text and "还没有状态变化" in r.text
        assert "失能补贴" in r.text  # this month's voucher
        key = re.search(r'name="request_key" value="([^"]+)"', r.text).group(1)
        form = {
            "csrf_token": csrf_of(r.text),
            "request_key": key,
            "status": "hospitalised",
            "effective_on": TODAY.isoformat(),
            "until": (TODAY + timedelta(days=5)).isoformat(),
            "reason": "肺炎住院",
            "evidence_ref": "入院通知书 88",
        }
        done = await c.post(f"/officer/people/{bid}/status", data=form)
        assert done.status_code == 303 and done.headers["location"] == f"/officer/people/{bid}"
        again = await c.post(f"/officer/people/{bid}/status", data=form)  # Back + resubmit
        assert again.status_code == 303
        shown = await c.get(f"/officer/people/{bid}")
        assert "已登记：住院" in shown.text
        assert re.search(r'id="current-status">住院<', shown.text)
        assert "肺炎住院" in shown.text and "入院通知书 88" in shown.text
        assert "UTC" not in shown.text
        # the vouchers say they are paused, and the stay names who recorded it
        vouchers = shown.text[shown.text.index('id="vouchers"') :]
        assert (
            "住院期间暂停" in vouchers.split("</ul>")[0]
            and "可用" not in vouchers.split("</ul>")[0]
        )
        timeline_html = shown.text[shown.text.index('id="timeline"') :].split("</ul>")[0]
        assert "陈经办" in timeline_html and "web:" not in timeline_html
    timeline = await web.voucher.get(
        f"/v1/beneficiaries/{bid}/status-changes", headers=web.officer()
    )
    assert [c["status"] for c in timeline.json()] == ["hospitalised"]  # once


async def test_status_form_explains_bad_input_and_changes_nothing(web):
    bid, _ = await _person(web, "吴爷爷", 612)
    async with web.signed_in("officer") as c:
        page = await c.get(f"/officer/people/{bid}")
        base = {"csrf_token": csrf_of(page.text), "effective_on": TODAY.isoformat()}
        r = await c.post(f"/officer/people/{bid}/status", data={**base, "status": "deceased"})
        assert r.status_code == 422 and "请填写原因" in r.text
        r = await c.post(
            f"/officer/people/{bid}/status",
            data={
                **base,
                "status": "deceased",
                "reason": "病故",
                "effective_on": (TODAY + timedelta(days=3)).isoformat(),
            },
        )
        assert r.status_code == 422 and "生效日期不能晚于今天" in r.text
        r = await c.post(
            f"/officer/people/{bid}/status", data={**base, "status": "gone", "reason": "x"}
        )
        assert r.status_code == 422 and "请选择要登记的状态" in r.text
        # without the form's CSRF token nothing is accepted
        r = await c.post(
            f"/officer/people/{bid}/status",
            data={"status": "deceased", "reason": "x", "effective_on": TODAY.isoformat()},
        )
        assert r.status_code in (400, 403)
    timeline = await web.voucher.get(
        f"/v1/beneficiaries/{bid}/status-changes", headers=web.officer()
    )
    assert timeline.json() == []


async def test_another_regions_person_is_not_found(web):
    far, _ = await _person(web, "柳大爷", 613, region=OTHER_CITY)
    async with web.signed_in("officer") as c:
        r = await c.get(f"/officer/people/{far}")
        assert r.status_code == 404 and "柳大爷" not in r.text
        r = await c.get("/officer/people/not-an-id")
        assert r.status_code == 404


async def test_status_file_import_shows_every_row_and_is_idempotent(web):
    bid, nid = await _person(web, "郑奶奶", 614)
    content = (
        "national_id,event,date\n"
        f"{nid},死亡,{(TODAY - timedelta(days=1)).isoformat()}\n"
        f"{nid[:-1]}X,死亡,{TODAY.isoformat()}\n"
    ).encode()
    async with web.signed_in("officer") as c:
        token = csrf_of((await c.get("/officer/status-import")).text)
        files = {"file": ("deaths.csv", content, "text/csv")}
        r = await c.post("/officer/status-import", data={"csrf_token": token}, files=files)
        r = await import_finished(c, r)  # in the background; its page shows how it ended
        assert r.status_code == 200 and 'data-status="done"' in r.text, r.text
        assert "登记 1 行" in r.text and "有误 1 行" in r.text and nid not in r.text
        r = await c.post("/officer/status-import", data={"csrf_token": token}, files=files)
        r = await import_finished(c, r)
        assert "登记 0 行，已登记过 1 行" in r.text
        r = await c.post(
            "/officer/status-import",
            data={"csrf_token": token},
            files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        )
        assert r.status_code == 422 and "CSV 或 Excel" in r.text
        person = await c.get(f"/officer/people/{bid}")
        assert "已去世" in person.text and "批量导入" in person.text
        assert 'id="status-form"' not in person.text  # nothing more to record


async def test_a_person_in_hospital_is_told_the_vouchers_are_paused_and_shown_no_code(web):
    """The elder's and the family's pages during a hospital stay: the vouchers say they are
    paused and until when (the counter would refuse them), and no payment code is offered;
    once the stay has ended, the code is back."""
    bid, _ = await _person(web, "郑爷爷", 615)
    await web.add_account(
        username="zheng", role="beneficiary", display_name="郑爷爷", beneficiary_ids=[bid]
    )
    async with web.signed_in("zheng") as c:
        before = await c.get("/me/qr")
        assert 'id="qr"' in before.text and 'id="paused"' not in before.text
    stay = await web.voucher.post(
        f"/v1/beneficiaries/{bid}/status-changes",
        headers={**web.officer(), "Idempotency-Key": "stay-zheng-615"},
        json={
            "status": "hospitalised",
            "effective_on": TODAY.isoformat(),
            "until": (TODAY + timedelta(days=3)).isoformat(),
            "reason": "住院",
        },
    )
    assert stay.status_code in (200, 201), stay.text
    async with web.signed_in("zheng") as c:
        home = await c.get("/me")
        assert "住院期间，补贴券暂停使用" in home.text
        assert f"到 {(TODAY + timedelta(days=3)).isoformat()} 止" in home.text
        assert "住院期间暂停使用" in home.text and "可使用" not in home.text
        qr = await c.get("/me/qr")
        assert 'id="paused"' in qr.text and 'id="qr"' not in qr.text
        assert "qr-refresh" not in qr.text
    ended = await web.voucher.post(
        f"/v1/beneficiaries/{bid}/status-changes",
        headers={**web.officer(), "Idempotency-Key": "stay-zheng-615-end"},
        json={"status": "active", "effective_on": TODAY.isoformat(), "reason": "出院"},
    )
    assert ended.status_code in (200, 201), ended.text
    async with web.signed_in("zheng") as c:
        qr = await c.get("/me/qr")
        assert 'id="qr"' in qr.text and 'id="paused"' not in qr.text


async def test_an_officer_registers_the_bank_account_cash_benefits_are_paid_to(web):
    """From the person's page: a wrong number is refused and nothing is stored; a right one
    is stored encrypted and shown only by its last digits; others may not set it."""
    bid, _ = await _person(web, "冯奶奶", 616)
    number = "6228480012345678901"
    async with web.signed_in("officer") as c:
        page = await c.get(f"/officer/people/{bid}")
        assert "还没有登记" in page.text and 'action="/officer/people/' in page.text
        form = {
            "csrf_token": csrf_of(page.text),
            "bank_name": "中国农业银行南宁分行",
            "account_name": "冯奶奶",
        }
        bad = await c.post(
            f"/officer/people/{bid}/payout-account", data={**form, "account_number": "12ab"}
        )
        assert bad.status_code == 303 and bad.headers["location"].endswith("#payout")
        shown = (await c.get(bad.headers["location"])).text
        # said beside the form, where the officer is looking; nothing stored
        account = shown[shown.index('id="payout-account"') :].split("</section>")[0]
        assert 'id="payout-problem"' in account and "8 到 30 位数字" in account
        assert "还没有登记" in account and "12ab" not in bad.headers["location"]
        ok = await c.post(
            f"/officer/people/{bid}/payout-account",
            data={**form, "account_number": "6228 4800 1234 5678 901"},
        )
        assert ok.status_code == 303
        shown = (await c.get(f"/officer/people/{bid}")).text
        assert "已登记收款账户（尾号 8901）" in shown and "中国农业银行南宁分行" in shown
        account = shown[shown.index('id="payout-account"') :].split("</section>")[0]
        assert "8901" in account and number not in shown and "还没有登记" not in account
    stored = await web.count(
        "voucher",
        f"SELECT payout_account_enc IS NOT NULL FROM beneficiary WHERE id = '{bid}'",
    )
    assert stored is True
    raw = await web.count(
        "voucher",
        f"SELECT encode(payout_account_enc, 'escape') FROM beneficiary WHERE id = '{bid}'",
    )
    assert number not in raw  # encrypted at rest
    async with web.signed_in("staff1") as c:
        csrf = csrf_of((await c.get("/provider/redeem")).text)
        r = await c.post(
            f"/officer/people/{bid}/payout-account",
            data={
                "csrf_token": csrf,
                "bank_name": "x",
                "account_name": "y",
                "account_number": "12345678",
            },
        )
        assert r.status_code == 403


async def test_the_person_page_says_where_they_live_by_the_care_circle_not_coordinates(web):
    """位置 reads as the nearest approved provider within the 15-minute circle and its
    distance (the coordinates stay in the edit form); far from every provider it says so; a
    person without a position is 未登记."""
    near, _ = await _person(web, "近老人", 7101)  # 22.81, 108.37: by the meal point
    far = await web.voucher.post(
        "/v1/beneficiaries",
        headers=web.officer(),
        json=enrolment("远老人", 7102, lat=22.95, lon=108.60),
    )
    assert far.status_code == 201, far.text
    nowhere = await web.voucher.post(
        "/v1/beneficiaries",
        headers=web.officer(),
        json=enrolment("无位置", 7103, lat=None, lon=None),
    )
    async with web.signed_in("officer") as c:
        html = (await c.get(f"/officer/people/{near}")).text
        said = re.search(r'<p id="position">([^<]+)</p>', html).group(1)
        assert re.fullmatch(
            r"位置：已登记，1000 米内最近的服务机构：青秀区幸福助餐点（约 \d+ 米）", said
        )
        shown = re.sub(r"<input[^>]*>", "", html)  # (the edit form holds the numbers)
        assert "22.81" not in shown and "108.37" not in shown
        html = (await c.get(f"/officer/people/{far.json()['id']}")).text
        assert "1000 米内还没有服务机构" in html
        html = (await c.get(f"/officer/people/{nowhere.json()['id']}")).text
        assert '<p id="position">位置：未登记</p>' in html
