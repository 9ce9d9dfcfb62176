"""Receipts and disputes in a real browser (headless Chromium, zh-CN, a 360 px phone) against
the real system served on free ports: the family opens the receipt from 使用记录, disputes it,
the officer finds it in 争议处理 with its deadline and answers, the family sees the answer;
the provider's receipt prints. No page scrolls sideways at 360 px."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.web.test_browser import (  # noqa: F401 - fixtures
    ARGS,
    SHOTS,
    Live,
    _sign_in,
    chromium,
    live,
)

pytestmark = pytest.mark.browser


async def _redeem(system: Live) -> str:
    s = system.s
    code = await s.voucher.post(
        f"/v1/beneficiaries/{s.b1}/codes",
        headers=s.tokens.headers("beneficiary", sub=f"test:{s.b1}", beneficiary_ids=(s.b1,)),
    )
    r = await s.voucher.post(
        "/v1/redemptions",
        headers={"Authorization": f"Bearer {s.terminal_secret}"},
        json={
            "token": code.json()["token"],
            "items": [{"service_code": "BATH_HOME", "amount_fen": 5000}],
            "idempotency_key": f"browser-receipt-{uuid.uuid4().hex}",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _fits(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 362, f"the page scrolls sideways at 360 px ({width})"


async def test_family_disputes_officer_answers(live: Live, chromium: Path):  # noqa: F811
    from playwright.async_api import async_playwright

    base = live.base
    rid = await _redeem(live)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(
            viewport={"width": 360, "height": 760}, locale="zh-CN", bypass_csp=True
        )
        page = await phone.new_page()
        await _sign_in(page, base, "laowang")
        await page.click("nav >> text=使用记录")
        await page.click(f"a[href^='/me/receipts/{rid}']")
        await page.wait_for_selector("#receipt")
        assert "上门助浴" in await page.inner_text("#receipt-items")
        assert await page.inner_text("#receipt-gross") == "50.00"
        assert await page.inner_text("#review-state") == "待确认"
        await _fits(page)
        box = await page.locator("#confirm-ok").bounding_box()
        assert box is not None and box["height"] >= 48
        await page.screenshot(path=str(SHOTS / "40-family-receipt.png"), full_page=True)
        await page.fill("#dispute-reason", "护理员只来了十分钟")
        await page.click("#dispute-send")
        await page.wait_for_selector("#dispute")
        assert "待处理" in await page.inner_text("#dispute")
        assert await page.inner_text("#review-state") == "已申诉"
        # Back and reload: the page shows the state as it is, no form to send twice.
        await page.go_back()
        await page.reload()
        assert await page.locator("#dispute-send").count() == 0

        officer_ctx = await browser.new_context(
            viewport={"width": 360, "height": 760}, locale="zh-CN", bypass_csp=True
        )
        officer = await officer_ctx.new_page()
        await _sign_in(officer, base, "officer")
        await officer.click("#nav-more summary")  # folded under 更多功能 (监管)
        await officer.click("nav >> text=争议处理")
        await officer.wait_for_selector(".dispute-row")
        row = officer.locator(".dispute-row", has_text="护理员只来了十分钟")
        assert "按期处理中" in await row.inner_text()
        await _fits(officer)
        await officer.screenshot(path=str(SHOTS / "41-officer-disputes.png"), full_page=True)
        await row.locator("text=查看并处理").click()
        await officer.wait_for_selector("#decision")
        assert "50.00" in await officer.inner_text("#receipt")
        await officer.check("#decision-partly_upheld")
        await officer.fill("#decision-reason", "服务时长不足，核减一半")
        await _fits(officer)
        await officer.screenshot(path=str(SHOTS / "42-officer-decision.png"), full_page=True)
        await officer.click("#decision-send")
        await officer.wait_for_selector("text=已答复：申诉部分成立")
        assert await officer.locator("#decision").count() == 0
        await officer_ctx.close()

        await page.reload()
        text = await page.inner_text("#dispute")
        assert "申诉部分成立" in text and "服务时长不足" in text
        assert await page.locator("#appeal-send").count() == 1
        await page.screenshot(path=str(SHOTS / "43-family-answer.png"), full_page=True)
        await phone.close()

        # The provider's own receipt, printable.
        desk = await browser.new_context(
            viewport={"width": 360, "height": 760}, locale="zh-CN", bypass_csp=True
        )
        page = await desk.new_page()
        await _sign_in(page, base, "staff1")
        await page.click("nav >> text=今日交易")
        await page.click(f"a[href='/provider/receipts/{rid}']")
        await page.wait_for_selector("#receipt")
        assert "申诉" in await page.inner_text("main")
        await _fits(page)
        await page.emulate_media(media="print")
        assert not await page.locator("nav.nav").is_visible()
        assert await page.locator("#receipt").is_visible()
        await page.screenshot(path=str(SHOTS / "44-provider-receipt-print.png"), full_page=True)
        await desk.close()
        await browser.close()


async def test_care_worker_checks_in_and_out_and_the_cashier_bills_the_visit(
    live: Live,  # noqa: F811
    chromium: Path,  # noqa: F811
):
    from playwright.async_api import async_playwright

    from tests.web.test_visit_pages import HOME, _with_home_care

    s, base = live.s, live.base
    await _with_home_care(s)

    async def code() -> str:
        r = await s.voucher.post(
            f"/v1/beneficiaries/{s.b1}/codes",
            headers=s.tokens.headers("beneficiary", sub=f"test:{s.b1}", beneficiary_ids=(s.b1,)),
        )
        return r.json()["token"]

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        ctx = await browser.new_context(
            viewport={"width": 360, "height": 760},
            locale="zh-CN",
            bypass_csp=True,
            geolocation={"latitude": HOME[0], "longitude": HOME[1]},
            permissions=["geolocation"],
        )
        page = await ctx.new_page()
        await _sign_in(page, base, "staff1")
        await page.click("nav >> text=上门签到")
        await page.wait_for_selector("#position-status:has-text('已获取位置')")
        await page.fill("#token", await code())
        await _fits(page)
        await page.screenshot(path=str(SHOTS / "45-care-worker-check-in.png"), full_page=True)
        await page.click("#check-in")
        await page.wait_for_selector("text=已签到")
        href = await page.get_attribute(".open-visit >> nth=0 >> a", "href")
        vid = href.split("/")[3]
        await s.count(
            "voucher",
            f"UPDATE visit SET checked_in_at = now() - interval '35 minutes' WHERE id = '{vid}'",
        )
        await page.click(f"a[href='{href}']")
        await page.wait_for_selector("#position-status:has-text('已获取位置')")
        await page.fill("#token", await code())
        await page.click("#check-out")
        await page.wait_for_selector("text=本次上门服务 35 分钟")
        await _fits(page)
        await page.click(f"a[href='/provider/redeem?visit_id={vid}']")
        await page.wait_for_selector("#redeem-form")
        assert await page.input_value("#visit_id") == vid
        await page.fill("#token", await code())
        await page.fill("#qty-CARE_HOME", "1")
        assert await page.inner_text("#bill-total") == "60.00"
        await _fits(page)
        await page.screenshot(path=str(SHOTS / "46-cashier-home-visit.png"), full_page=True)
        await page.click("text=下一步：核对")
        await page.wait_for_selector("#confirm")
        if await page.locator("#copay-method").count():  # asked before confirming
            await page.check("#copay-method-cash")
        await page.click("#confirm")
        await page.wait_for_selector("text=收款成功")
        await page.click("text=查看并打印收据")
        await page.wait_for_selector("#receipt-visit")
        assert "35 分钟" in await page.inner_text("#receipt-visit")
        await page.screenshot(path=str(SHOTS / "47-receipt-with-visit.png"), full_page=True)
        await ctx.close()
        await browser.close()
