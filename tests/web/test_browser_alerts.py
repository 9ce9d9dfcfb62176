"""The officer's anomaly pages in a real browser (headless Chromium) at 360 px wide against
the real system served on free ports (tests/web/test_browser.py `served_system`): the queue,
the alert with its timeline and the plot of places (SVG drawn by the server: straight-line
distance written on it), the decision taken through the form, Back and reload after it, the
rule thresholds page; nothing wider than the screen; then the provider's statement with the
recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.web.alert_seed import FAR_NAME, seed_alert
from tests.web.test_browser import (  # noqa: F401 - fixtures
    ARGS,
    SHOTS,
    Live,
    _sign_in,
    chromium,
    served_system,
)

pytestmark = pytest.mark.browser
NARROW = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
async def live(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("alerts")
    ) as running_system:
        yield running_system


async def _fits(page) -> None:
    """Nothing on the page is wider than the 360 px screen (no sideways scrolling)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right"
        " > 361).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert width <= NARROW["width"], f"{page.url} is {width} px wide: {wide}"


async def test_officer_decides_an_alert_at_360px(live: Live, chromium: Path):  # noqa: F811
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    alert_id, _ = await seed_alert(s)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        ctx = await browser.new_context(
            viewport=NARROW, device_scale_factor=1, locale="zh-CN", bypass_csp=True
        )
        page = await ctx.new_page()
        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/alerts")
        assert await page.locator("html").get_attribute("lang") == "zh-CN"
        await page.wait_for_selector(f'[data-alert="{alert_id}"]')
        await _fits(page)
        await page.screenshot(path=str(SHOTS / "alerts-01-queue.png"), full_page=True)

        await page.click(f'[data-alert="{alert_id}"] a.btn')
        await page.wait_for_selector("#places svg")
        distance = (await page.text_content("#places svg text.distance")) or ""
        assert distance.endswith("公里") and 33 < float(distance.split()[0]) < 35
        assert FAR_NAME in await page.inner_text("#timeline")
        svg_width = await page.evaluate(
            "document.querySelector('#places svg').getBoundingClientRect().width"
        )
        assert 0 < svg_width <= NARROW["width"]
        await _fits(page)
        await page.screenshot(path=str(SHOTS / "alerts-02-detail.png"), full_page=True)

        await page.check("input[name=decision][value=confirm]")
        await page.fill("#reason", "核实为代刷卡，已约谈机构负责人")
        await page.click("#decide")
        await page.wait_for_selector("#decided")
        assert "已确认违规" in await page.inner_text("main")
        assert await page.locator("#recoveries tbody tr").count() == 2
        await _fits(page)
        await page.screenshot(path=str(SHOTS / "alerts-03-decided.png"), full_page=True)
        # Reload and Back: the decided alert, never a second decision.
        await page.reload()
        await page.wait_for_selector("#decided")
        await page.go_back()
        await page.wait_for_load_state("networkidle")
        assert await page.locator(
            "#decision"
        ).count() == 0 or "已确认违规" in await page.inner_text("main")

        await page.goto(f"{base}/officer/anomaly-rules")
        await page.wait_for_selector("#rule-terminal_burst")
        await _fits(page)
        form = page.locator("#rule-terminal_burst form")
        await form.locator("input[name=t_max_elders]").fill("8")
        await form.locator("textarea[name=reason]").fill("节假日集中服务较多")
        await form.locator("button[type=submit]").click()
        await page.wait_for_selector("#rule-history")
        assert "10 → 8" in await page.inner_text("#rule-history")
        await page.screenshot(path=str(SHOTS / "alerts-04-rules.png"), full_page=True)
        await ctx.close()

        # The provider admin sees the recovery on the statement (the relay posts it).
        for _ in range(100):
            if await s.count(
                "ledger", "SELECT count(*) FROM entry WHERE kind = 'redemption_recovery'"
            ):
                break
            await asyncio.sleep(0.2)
        ctx = await browser.new_context(
            viewport=NARROW, device_scale_factor=1, locale="zh-CN", bypass_csp=True
        )
        page = await ctx.new_page()
        await _sign_in(page, base, "admin1")
        await page.goto(f"{base}/provider/statement")
        await page.wait_for_selector("#st-recoveries")
        assert await page.inner_text("#st-recoveries") != "0.00"
        assert "核实为代刷卡" in await page.inner_text("#recoveries")
        await _fits(page)
        await page.screenshot(path=str(SHOTS / "alerts-05-statement.png"), full_page=True)
        await ctx.close()
        await browser.close()
