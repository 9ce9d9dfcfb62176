"""Profile and reassessment in a real browser (headless Chromium via Playwright) on a phone
360 px wide, against the real system served on free ports (tests/web/test_browser.py
`served_system`): the officer opens a person's page, edits the profile with the form (phone
and emergency contact shown masked after), records a new assessment (its grade counts from
next month), goes Back and reloads (recorded once), then opens the reassessment due list
where a lapsed person is first, and runs the quarter's spot draw (twice: one draw). Every
page fits the screen, every control is big enough to press, and axe-core finds no serious
or critical violation. Screenshots go to reports/screenshots/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.web.axe import serious_violations
from tests.web.system import enrolment
from tests.web.test_browser import (  # noqa: F401 - fixtures
    ARGS,
    SHOTS,
    Live,
    _sign_in,
    chromium,
    served_system,
)

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
async def live(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("reassess")
    ) as running_system:
        yield running_system


async def _check(page, name: str) -> None:
    """No sideways scrolling at 360 px, every control at least 44 px tall, no serious axe
    violation; a screenshot."""
    await page.screenshot(path=str(SHOTS / f"reassess-{name}.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide"
    small = await page.evaluate("""() => [...document.querySelectorAll(
            'main button, main input:not([type=hidden]):not([type=checkbox]), main select, ' +
            'main a.btn, main a.row-link')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.tagName + ' ' + (e.id || e.textContent.trim().slice(0, 8)),
                   Math.round(e.getBoundingClientRect().height)])
        .filter(([, h]) => h < 44)""")
    assert small == [], f"{name}: controls under 44 px: {small}"
    assert await serious_violations(page) == [], name


async def test_officer_edits_a_profile_records_an_assessment_and_reads_the_due_list(
    live: Live,
    chromium: Path,  # noqa: F811 - the fixture
):
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    body = enrolment("郑奶奶", 781)
    body["assessment"]["assessed_on"] = (today - timedelta(days=390)).isoformat()  # lapsed
    r = await s.voucher.post("/v1/beneficiaries", headers=s.officer(), json=body)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        context = await browser.new_context(
            viewport=PHONE, device_scale_factor=1, locale="zh-CN", bypass_csp=True
        )
        await context.grant_permissions(["geolocation"])
        await context.set_geolocation({"latitude": 22.8123, "longitude": 108.3456})
        page = await context.new_page()
        await _sign_in(page, base, "officer")

        # the due list: the lapsed person is first
        await page.goto(f"{base}/officer/reassessments")
        due = await page.inner_text("#due")
        assert due.startswith("郑奶奶") and "已过期" in due
        await _check(page, "01-due")

        # the person's page: edit the profile with the form
        await page.goto(f"{base}/officer/people/{bid}")
        await page.wait_for_selector("#profile-form")
        await _check(page, "02-person")
        await page.fill("#p-phone", "13955556666")
        await page.click("#p-locate")
        await page.wait_for_function("document.getElementById('p-lat').value.startsWith('22.8123')")
        await page.fill("#p-contact-name", "郑建国")
        await page.fill("#p-contact-relation", "儿子")
        await page.fill("#p-contact-phone", "13766667777")
        await page.select_option("#p-care-setting", "community")
        await page.click("#profile-form button[type=submit]")
        await page.wait_for_selector("text=档案已保存")
        profile = await page.inner_text("#profile")
        assert "郑**（儿子）" in profile and "137****6666" not in profile
        assert "137****7777" in profile
        content = await page.content()
        assert "13955556666" not in content and "13766667777" not in content
        assert "139****6666" in content
        await _check(page, "03-profile-saved")

        # record a new assessment: its grade counts from next month
        await page.click("#assessment-link")
        await page.wait_for_selector("#assessment-form")
        await _check(page, "04-assessment-form")
        for field, value in (
            ("#a-self_care", "15"),
            ("#a-motor", "8"),
            ("#a-mental", "10"),
            ("#a-perception_social", "7"),
        ):
            await page.fill(field, value)
        await page.fill("#a-assessor", "青秀区评估组")
        await page.click("#assessment-form button[type=submit]")
        await page.wait_for_selector("text=评估已记录")
        assert "本月补贴券不变" in await page.content()
        assert await page.locator("#grade-pending").count() == 1
        await _check(page, "05-assessed")
        # Back to the filled form and reload: nothing recorded twice
        await page.go_back()
        await page.reload()
        await page.wait_for_load_state("networkidle")
        history = await s.voucher.get(f"/v1/beneficiaries/{bid}/assessments", headers=s.officer())
        assert len(history.json()) == 2  # enrolment's and the new one

        # reassessed: no longer due
        await page.goto(f"{base}/officer/reassessments")
        assert "郑奶奶" not in await page.inner_text("#due")
        await _check(page, "06-due-after")

        # the quarter's spot draw: run once, its people listed; run again shows the same
        await page.goto(f"{base}/officer/spot-draws")
        await _check(page, "07-spot-draws")
        await page.click("#draw-form button[type=submit]")
        await page.wait_for_selector("#members")
        first_url = page.url
        assert "已抽取" in await page.content()
        await _check(page, "08-spot-draw")
        await page.goto(f"{base}/officer/spot-draws")
        await page.click("#draw-form button[type=submit]")
        await page.wait_for_selector("text=已经抽过")
        assert page.url == first_url
        await browser.close()
    person = (await s.voucher.get(f"/v1/beneficiaries/{bid}", headers=s.officer())).json()
    assert person["lat"] == pytest.approx(22.8123) and person["location_approximate"] is False
    assert person["care_setting"] == "community"
    changes = await s.voucher.get(f"/v1/beneficiaries/{bid}/profile-changes", headers=s.officer())
    assert [c["fields"] for c in changes.json()] == [
        ["phone", "location", "contact", "care_setting"]
    ]
