"""The officer's profile and reassessment pages (issue 15, part 3) against the real
services: the profile form on the person's page (saved, audited, phone masked; a refused
edit shown again with the reason), recording an assessment (its grade from next month),
the due list and its exports, and the quarterly spot draw (once a quarter). Another
region's person is "not found"; other roles are refused."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.web.conftest import csrf_of
from tests.web.system import DISTRICT, OTHER_CITY, enrolment

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def _person(web, name: str, serial: int, days_ago: int | None = None) -> tuple[str, dict]:
    body = enrolment(name, serial)
    if days_ago is not None:
        body["assessment"]["assessed_on"] = (TODAY - timedelta(days=days_ago)).isoformat()
    r = await web.voucher.post("/v1/beneficiaries", headers=web.officer(), json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"], body


def _profile_form(csrf: str, **over: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "phone": "",
        "address": "青秀区民族大道1号",
        "lat": "22.81",
        "lon": "108.37",
        "contact_name": "",
        "contact_relation": "",
        "contact_phone": "",
        "care_setting": "home",
        "reason": "",
    }
    form.update(over)
    return form


async def test_profile_form_saves_audits_and_masks(web):
    bid, body = await _person(web, "孙奶奶", 631)
    async with web.signed_in("officer") as c:
        r = await c.get(f"/officer/people/{bid}")
        assert r.status_code == 200 and 'id="profile-form"' in r.text
        assert body["phone"] not in r.text
        form = _profile_form(
            csrf_of(r.text),
            phone="13911112222",
            address="青秀区竹溪大道9号",
            lat="22.82",
            lon="108.38",
            location_approximate="1",
            contact_name="孙建华",
            contact_relation="女儿",
            contact_phone="13722223333",
            care_setting="community",
            reason="上门核实",
        )
        done = await c.post(f"/officer/people/{bid}/profile", data=form)
        assert done.status_code == 303 and done.headers["location"].startswith(
            f"/officer/people/{bid}"
        )
        again = await c.post(f"/officer/people/{bid}/profile", data=form)  # Back + resend
        assert again.status_code == 303
        shown = await c.get(f"/officer/people/{bid}")
        assert "档案已保存" in shown.text and "139****2222" in shown.text
        assert "孙**（女儿）" in shown.text and "137****3333" in shown.text
        assert "13911112222" not in shown.text and "13722223333" not in shown.text
        assert "社区中心，近似位置" in shown.text
        # a refused edit: the form again, with what was typed and why
        bad = _profile_form(
            csrf_of(shown.text),
            phone="12345",
            care_setting="community",
            address="青秀区竹溪大道9号",
            lat="22.82",
            lon="108.38",
            location_approximate="1",
        )
        r = await c.post(f"/officer/people/{bid}/profile", data=bad)
        assert r.status_code == 422 and "手机号码不正确" in r.text and 'value="12345"' in r.text
        r = await c.post(f"/officer/people/{bid}/profile", data={**bad, "phone": "", "lat": "x"})
        assert r.status_code == 422 and "纬度和经度" in r.text
    changes = await web.voucher.get(
        f"/v1/beneficiaries/{bid}/profile-changes", headers=web.officer()
    )
    assert len(changes.json()) == 1  # the resent form changed nothing more
    # another city's officer: not found; other roles refused
    await web.add_account(
        username="officer_lz", role="civil_affairs", display_name="柳州经办", region=OTHER_CITY
    )
    async with web.signed_in("officer_lz") as c:
        r = await c.get(f"/officer/people/{bid}/assessment")
        assert r.status_code == 404
    async with web.signed_in("finance") as c:
        assert (await c.get(f"/officer/people/{bid}/assessment")).status_code == 403
        assert (await c.get("/officer/reassessments")).status_code == 403
        assert (await c.get("/officer/spot-draws")).status_code == 403


async def test_assessment_due_list_and_spot_draw_pages(web):
    bid, _ = await _person(web, "钱大爷", 632, days_ago=380)  # lapsed
    soon, _ = await _person(web, "吴奶奶", 633, days_ago=340)
    async with web.signed_in("officer") as c:
        r = await c.get("/officer/reassessments")
        assert r.status_code == 200
        assert r.text.index("钱大爷") < r.text.index("吴奶奶") and "已过期" in r.text
        csv_r = await c.get("/officer/reassessments/export", params={"format": "csv"})
        table = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
        assert table[0][0] == "姓名" and [row[0] for row in table[1:3]] == ["钱大爷", "吴奶奶"]
        xlsx = await c.get("/officer/reassessments/export", params={"format": "xlsx"})
        assert xlsx.content[:2] == b"PK"

        # an issuance run skips the lapsed person, and its page says why
        run = await web.voucher.post(
            "/v1/issuance-runs",
            headers=web.officer(),
            json={
                "program_code": "disability_subsidy",
                "period": TODAY.strftime("%Y-%m"),
                "region_code": DISTRICT,
            },
        )
        assert run.status_code == 200, run.text
        assert run.json()["skip_reasons"].get("assessment_lapsed", 0) >= 1
        shown = await c.get(f"/officer/issuance/{run.json()['run_id']}")
        assert "因能力评估过期未发放" in shown.text

        page = await c.get(f"/officer/people/{bid}/assessment")
        form = {
            "csrf_token": csrf_of(page.text),
            "self_care": "15",
            "motor": "8",
            "mental": "10",
            "perception_social": "7",
            "assessed_on": TODAY.isoformat(),
            "assessor": "青秀区评估组",
            "care_risk_events": "0",
        }
        r = await c.post(f"/officer/people/{bid}/assessment", data={**form, "motor": "99"})
        assert r.status_code == 422 and "0 到 15" in r.text
        done = await c.post(f"/officer/people/{bid}/assessment", data=form)
        assert done.status_code == 303
        shown = await c.get(done.headers["location"])
        assert "评估已记录：总分 40，3 级" in shown.text and "本月补贴券不变" in shown.text
        assert 'id="grade-pending"' in shown.text
        r = await c.get("/officer/reassessments")
        assert "钱大爷" not in r.text and "吴奶奶" in r.text

        r = await c.get("/officer/spot-draws")
        assert "还没有抽查过" in r.text
        drawn = await c.post("/officer/spot-draws", data={"csrf_token": csrf_of(r.text)})
        assert drawn.status_code == 303
        draw_page = await c.get(drawn.headers["location"])
        assert "已抽取" in draw_page.text and "随机种子" in draw_page.text
        again = await c.post("/officer/spot-draws", data={"csrf_token": csrf_of(r.text)})
        assert again.headers["location"] == drawn.headers["location"]
        assert "已经抽过" in (await c.get(again.headers["location"])).text
        export = await c.get(drawn.headers["location"] + "/export", params={"format": "csv"})
        assert export.content.decode("utf-8-sig").startswith("顺序")
    _ = (soon, DISTRICT)
