"""Paying a co-payment online, end to end in a real browser (headless Chromium) against the
real system served on free ports (tests/web/test_browser.py `served_system`), with a real
localstripe whose fake Stripe.js the pay page loads and which delivers the webhook to the
voucher service as Stripe would. Staff redeem a bill above the subsidy and choose 家属在线
支付; the family signs in, sees the co-payment, pays with the test card and sees 已支付; the
ledger gets exactly one `copay.received` posting. The pay page runs under its real CSP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.voucher.clients import StripeGateway
from services.voucher.config import VoucherSettings
from tests.settlement.stripe_process import KEY, LocalStripe
from tests.web.browser_kit import until as _until
from tests.web.test_browser import (  # noqa: F401 - fixtures
    ARGS,
    SHOTS,
    Live,
    _sign_in,
    chromium,
    served_system,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def paying(
    pg_admin_url, db_templates, tokens, tmp_path_factory
) -> AsyncIterator[tuple[Live, LocalStripe]]:
    tmp = tmp_path_factory.mktemp("pay")
    ls = LocalStripe(tmp / "localstripe.pickle")
    await asyncio.to_thread(ls.start)
    try:
        async with served_system(
            pg_admin_url, db_templates, tokens, tmp, stripe_js_url=f"{ls.base}/js.stripe.com/v3/"
        ) as live:
            live.s.voucher_app.state.stripe_gateway = StripeGateway(KEY, ls.base)
            # What `yiyang up` does for localstripe: Stripe's webhooks go to the voucher service.
            async with httpx.AsyncClient() as http:
                r = await http.post(
                    f"{ls.base}/_config/webhooks/yiyang",
                    data={
                        "url": f"{live.urls['voucher']}/v1/stripe/webhook",
                        "secret": VoucherSettings().stripe_webhook_secret,
                    },
                )
            assert r.status_code == 200, r.text
            yield live, ls
    finally:
        await asyncio.to_thread(ls.stop)


async def _code(live: Live) -> str:
    s = live.s
    r = await s.voucher.post(
        f"/v1/beneficiaries/{s.b1}/codes",
        headers=s.tokens.headers("beneficiary", sub=f"test:{s.b1}", beneficiary_ids=(s.b1,)),
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


async def test_family_pays_the_copayment_online(paying, chromium: Path):  # noqa: F811
    from playwright.async_api import async_playwright

    live, _ls = paying
    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    token = await _code(live)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        # 1. Staff type the code, bill 60 yuan for 上门助浴 (half is subsidised), confirm,
        #    choosing 家属在线支付 on the confirm step.
        ctx = await browser.new_context(viewport={"width": 800, "height": 1000}, locale="zh-CN")
        page = await ctx.new_page()
        await _sign_in(page, base, "staff1")
        await page.goto(f"{base}/provider/redeem")
        await page.fill("#token", token)
        await page.fill("#qty-BATH_HOME", "1")
        await page.fill("#price-BATH_HOME", "60")
        await page.click("text=下一步：核对")
        # the way the co-payment is taken is chosen before confirming, not asked afterwards
        await page.wait_for_selector("#copay-method")
        await page.check("#copay-method-online")
        await page.screenshot(path=str(SHOTS / "30-provider-copay-choice.png"), full_page=True)
        await page.click("#confirm")
        await page.wait_for_selector("#copay-chosen")
        assert await page.inner_text("#subsidy") == "30.00"
        assert await page.inner_text("#copay") == "30.00"
        assert await page.inner_text("#copay-way") == "家属在线支付：等待支付"
        assert await page.locator("#copay-choice").count() == 0
        await ctx.close()

        # 2. The family, on a phone: 待支付, 去支付, the card, 确认支付, 已支付.
        phone = await browser.new_context(viewport={"width": 412, "height": 860}, locale="zh-CN")
        page = await phone.new_page()
        await _sign_in(page, base, "laowang")
        await page.click("nav >> text=待支付")
        await page.wait_for_selector(".copay-due")
        due = await page.inner_text(".copay-due")
        assert "30.00" in due and "青秀区幸福助餐点" in due and "上门助浴" in due
        await page.screenshot(path=str(SHOTS / "31-family-copay-due.png"), full_page=True)
        await page.click("text=去支付")
        # Stripe.js (localstripe's, from the settings' URL) mounted its card element.
        await page.wait_for_selector("#card-element input[placeholder=number]")
        await page.fill("#card-element input[placeholder=number]", "4242424242424242")
        await page.fill("#card-element input[placeholder=exp_month]", "12")
        await page.fill("#card-element input[placeholder=exp_year]", "30")
        await page.fill("#card-element input[placeholder=cvc]", "123")
        await page.fill("#card-element input[placeholder=postal_code]", "53000")
        box = await page.locator("#pay-button").bounding_box()
        assert box is not None and box["height"] >= 48
        await page.screenshot(path=str(SHOTS / "32-family-pay.png"), full_page=True)
        await page.click("#pay-button")
        await page.wait_for_url("**/done", timeout=30_000)
        await page.wait_for_selector("#pay-result")
        assert await page.inner_text("h1") == "已支付"
        assert "30.00" in await page.inner_text("#pay-result")
        await page.screenshot(path=str(SHOTS / "33-family-paid.png"), full_page=True)
        await phone.close()
        await browser.close()

    # 3. localstripe's webhook reached the voucher service too, and the relay posted the
    #    co-payment to the ledger: exactly once, whichever of sync and webhook came first.
    async def webhook_seen() -> bool:
        return (
            await s.count(
                "voucher",
                "SELECT count(*) FROM stripe_webhook_event WHERE type = 'payment_intent.succeeded'",
            )
            >= 1
        )

    async def posted() -> bool:
        return (
            await s.count("ledger", "SELECT count(*) FROM entry WHERE kind = 'copay_received'") >= 1
        )

    await _until(webhook_seen, 60, "localstripe's webhook")
    await _until(posted, 60, "the relay to post the co-payment")
    assert (
        await s.count("voucher", "SELECT count(*) FROM outbox WHERE type = 'copay.received'") == 1
    )
    assert await s.count("ledger", "SELECT count(*) FROM entry WHERE kind = 'copay_received'") == 1
    assert (
        await s.count("voucher", "SELECT status || ' ' || captured_fen FROM copayment")
        == "succeeded 3000"
    )
