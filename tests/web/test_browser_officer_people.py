"""The officer's people pages in a real browser (headless Chromium via Playwright) on a phone
360 px wide, against the real system served on free ports (tests/web/test_browser.py
`served_system`): the officer finds a person in the roster by name, opens their page, records
a hospital stay with the form, goes Back and reloads (the stay is recorded once), then imports
a file of deaths and sees each row's result, and the dead person's page shows it with no form
left. Every page fits the screen and every control is big enough to press. Screenshots go to
reports/screenshots/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

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
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("people")
    ) as running_system:
        yield running_system


async def _fits_a_phone(page, name: str) -> None:
    """No sideways scrolling at 360 px, every control at least 44 px tall; a screenshot."""
    await page.screenshot(path=str(SHOTS / f"people-{name}.png"), full_page=True)
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


async def test_officer_finds_a_person_records_a_stay_and_imports_deaths(
    live: Live,
    chromium: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
):
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    body = enrolment("钱奶奶", 771)
    r = await s.voucher.post("/v1/beneficiaries", headers=s.officer(), json=body)
    assert r.status_code == 201, r.text
    dies = r.json()["id"]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        context = await browser.new_context(
            viewport=PHONE, device_scale_factor=1, locale="zh-CN", bypass_csp=True
        )
        page = await context.new_page()
        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/people")
        await _fits_a_phone(page, "01-roster")
        await page.fill("#q", "王")
        await page.click("text=查找")
        await page.wait_for_load_state("networkidle")
        people = await page.inner_text("#people")
        assert "王大爷" in people and "李奶奶" not in people
        assert body["national_id"] not in await page.content()
        await page.click("#people >> text=王大爷")
        await page.wait_for_selector("#status-form")
        assert await page.inner_text("#current-status") == "正常"
        await _fits_a_phone(page, "02-person")

        await page.select_option("#status", "hospitalised")
        await page.fill("#until", (today + timedelta(days=7)).isoformat())
        await page.fill("#reason", "骨折住院")
        await page.fill("#evidence_ref", "入院通知书 2026-7")
        await page.click("#status-form button[type=submit]")
        await page.wait_for_selector("text=已登记：住院")
        assert await page.inner_text("#current-status") == "住院"
        assert "骨折住院" in await page.inner_text("#timeline")
        await _fits_a_phone(page, "03-person-hospitalised")
        # Back to the filled form and send it again, then reload: recorded once
        await page.go_back()
        await page.reload()
        await page.wait_for_load_state("networkidle")
        timeline = await s.voucher.get(
            f"/v1/beneficiaries/{s.b1}/status-changes", headers=s.officer()
        )
        assert [c["status"] for c in timeline.json()] == ["hospitalised"]

        # A discharge before the stay begins: the refusal says which date is wrong, and is
        # brought into view (the form is far down a long page) with the focus on it.
        await page.goto(f"{base}/officer/people/{dies}")
        await page.select_option("#status", "hospitalised")
        await page.fill("#effective_on", (today + timedelta(days=10)).isoformat())
        await page.fill("#until", (today + timedelta(days=3)).isoformat())
        await page.fill("#reason", "骨折住院")
        await page.click("#status-form button[type=submit]")
        problem = page.locator("main [role=alert]")
        await problem.wait_for()
        assert "出院日期不能早于生效日期" in await problem.inner_text()
        box = await problem.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
        assert await page.evaluate("document.activeElement.getAttribute('role')") == "alert"

        # a file of deaths: one known person, one unknown ID
        csv_path = tmp_path / "deaths.csv"
        csv_path.write_text(
            "national_id,event,date,evidence_ref\n"
            f"{body['national_id']},死亡,{(today - timedelta(days=1)).isoformat()},死亡证明 9\n"
            f"{body['national_id'][:-1]}0,死亡,{today.isoformat()},\n",
            encoding="utf-8",
        )
        await page.goto(f"{base}/officer/status-import")
        await _fits_a_phone(page, "04-status-import")
        await page.set_input_files("#file", str(csv_path))
        await page.click("form[action='/officer/status-import'] button[type=submit]")
        # the import runs in the background: its page shows the rows when it has ended
        await page.wait_for_selector("#import-job[data-status=done] ~ #summary, #summary")
        summary = await page.inner_text("#summary")
        assert "登记 1 行" in summary and "有误 1 行" in summary, summary
        await _fits_a_phone(page, "05-status-import-result")
        await page.click("#rows >> text=查看老人")
        await page.wait_for_load_state("networkidle")
        assert await page.inner_text("#current-status") == "已去世"
        assert await page.locator("#status-form").count() == 0
        assert "死亡证明 9" in await page.inner_text("#timeline")
        await _fits_a_phone(page, "06-person-deceased")
        await browser.close()
    vouchers = await s.vouchers(dies)
    assert vouchers and {v["status"] for v in vouchers} == {"revoked"}
