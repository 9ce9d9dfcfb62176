"""The review and enrolment pages in a real browser (headless Chromium via Playwright) on a
phone 360 px wide, against the real system served on free ports (tests/web/test_browser.py
`served_system`):

- the officer sends an application back for changes with a reason; the provider's admin reads
  the reason on 资质申请, uploads its food licence and resubmits; the officer sees the licence,
  downloads it and approves;
- the officer enrols a person at home: the region picked by name from the region tree (no
  code typed) and the home's position from the device ("使用当前位置", the browser's
  geolocation granted and set), stored exact.

Every page fits the screen, every control is big enough to press, axe-core finds nothing
serious or critical. Screenshots go to reports/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.web.axe import serious_violations
from tests.web.system import DISTRICT, MEAL_POINT, _uscc, enrolment
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
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
async def live(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("review")
    ) as running_system:
        yield running_system


async def _checked(page, name: str) -> None:
    """No sideways scrolling at 360 px, every control at least 44 px tall, nothing serious
    for axe-core; a screenshot."""
    await page.screenshot(path=str(SHOTS / f"review-{name}.png"), full_page=True)
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


async def test_send_back_resubmit_with_a_licence_and_approve(
    live: Live,
    chromium: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
):
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    r = await s.provider.post(
        "/v1/providers",
        headers=s.officer(DISTRICT),
        json={**MEAL_POINT, "name": "青秀区长寿助餐点", "uscc": _uscc(uuid.uuid4().int % 10**6)},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    await s.add_account(
        username="changshou", role="provider_admin", display_name="常主任", provider_id=pid
    )
    licence = tmp_path / "食品经营许可证.pdf"
    licence.write_bytes(PDF)
    card = f"#p-{pid}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        context = await browser.new_context(
            viewport=PHONE, device_scale_factor=1, locale="zh-CN", bypass_csp=True
        )
        page = await context.new_page()
        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/providers?status=applied")
        assert await page.locator(f"{card} form[data-action]").count() == 3
        await _checked(page, "01-officer-applied")
        await page.fill(f"#reason-{pid}-request-changes", "请上传食品经营许可证")
        await page.click(f"{card} form[data-action=request-changes] button")
        await page.wait_for_selector("text=已退回补正")
        assert await s.provider_status(pid) == "changes_requested"
        await page.click("#logout")

        await _sign_in(page, base, "changshou")
        await page.goto(f"{base}/provider/application")
        assert await page.inner_text("#status-reason") == "请上传食品经营许可证"
        assert await page.inner_text("#review-status") == "退回补正"
        await _checked(page, "02-provider-sent-back")
        await page.select_option("#kind", "food_licence")
        await page.set_input_files("#file", str(licence))
        await page.click("#documents button[type=submit]")
        await page.wait_for_selector("text=证照已上传")
        await page.fill("#reason", "已上传食品经营许可证")
        await page.click("#resubmit button[type=submit]")
        await page.wait_for_selector("text=已重新提交")
        assert await page.inner_text("#review-status") == "待审批"
        await _checked(page, "03-provider-resubmitted")
        await page.click("#logout")

        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/providers?status=applied")
        link = page.locator(f"{card} .documents a")
        assert "食品经营许可证" in await link.inner_text()
        async with page.expect_download() as download:
            await link.click()
        saved = tmp_path / "downloaded.pdf"
        await (await download.value).save_as(saved)
        assert saved.read_bytes() == PDF
        await _checked(page, "04-officer-resubmitted")
        await page.fill(f"#reason-{pid}-approve", "材料齐全，同意")
        await page.click(f"{card} form[data-action=approve] button")
        await page.wait_for_selector("text=已批准。")
        assert await s.provider_status(pid) == "approved"
        # Back to the form and reload: still approved once, no step of the review offered
        await page.go_back()
        await page.reload()
        history = await s.provider.get(f"/v1/providers/{pid}/history", headers=s.officer())
        steps = [h["to_status"] for h in history.json()["items"]]
        assert steps == ["applied", "changes_requested", "applied", "approved"]
        await browser.close()


async def test_enrolment_picks_the_region_by_name_and_takes_the_device_position(
    live: Live,
    chromium: Path,  # noqa: F811 - the fixture
):
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    body = enrolment("蒙奶奶", 781)
    scores = body["assessment"]["scores"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        context = await browser.new_context(
            viewport=PHONE,
            device_scale_factor=1,
            locale="zh-CN",
            bypass_csp=True,
            permissions=["geolocation"],
            geolocation={"latitude": 22.80123, "longitude": 108.40456, "accuracy": 12},
        )
        page = await context.new_page()
        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/enrol")
        await page.wait_for_selector("#use-position", state="visible")
        await _checked(page, "05-enrol")
        await page.fill("#national_id", body["national_id"])
        await page.fill("#name", "蒙奶奶")
        await page.fill("#phone", body["phone"])
        await page.fill("#region_code-search", "新竹")
        assert "找到 1 个地区" in await page.inner_text("[data-region-count]")
        assert await page.input_value("#region_code") == "450103001"
        await page.fill("#address", "青秀区新竹路8号")
        await page.click("#use-position")
        await page.wait_for_selector("text=已取得当前位置")
        for name, value in scores.items():
            await page.fill(f"#{name}", str(value))
        await page.fill("#assessed_on", body["assessment"]["assessed_on"])
        await page.fill("#assessor", "南宁市评估中心")
        await _checked(page, "06-enrol-filled")
        await page.click("main form button[type=submit]")
        await page.wait_for_selector("text=登记成功")
        assert "/officer/people/" in page.url  # the person's own page (post/redirect/get)
        assert "住址位置：登记时本机定位" in await page.inner_text("main")
        await _checked(page, "07-enrolled")
        await browser.close()
    found = await s.voucher.post(
        "/v1/beneficiaries/lookup", headers=s.officer(), json={"national_id": body["national_id"]}
    )
    person = (
        await s.voucher.get(f"/v1/beneficiaries/{found.json()['id']}", headers=s.officer())
    ).json()
    assert person["region_code"] == "450103001"
    assert (person["lat"], person["lon"], person["location_approximate"]) == (
        22.80123,
        108.40456,
        False,
    )
