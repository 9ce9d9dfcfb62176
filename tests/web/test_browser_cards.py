"""Cards, proxies and provider credit events in a real browser (headless Chromium via
Playwright) on a phone 360 px wide, against the real system served on free ports
(tests/web/test_browser.py `served_system`):

- the officer issues a card from the person's page, the PIN letter opens (one A4 page when
  printed) and a reload no longer shows the PIN; the cashier types the card's code and the
  PIN and redeems; five wrong PINs say how many tries are left and then lock the card; the
  officer unlocks it and the cashier redeems again;
- the officer grants a family member's account as a proxy and revokes it: the proxy's page
  no longer shows the person's vouchers;
- the officer opens a provider's credit events from the providers page and exports them.

Every page fits the screen, every control is big enough to press, and axe-core finds no
serious or critical violation. Screenshots go to reports/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.axe import serious_violations
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
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("cards")
    ) as running_system:
        yield running_system


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Any]:  # noqa: F811 - the fixture
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        await b.close()


async def _phone(browser: Any) -> Any:
    return await browser.new_context(
        viewport=PHONE, device_scale_factor=1, locale="zh-CN", bypass_csp=True
    )


async def _checked(page: Any, name: str) -> None:
    """No sideways scrolling at 360 px, every control at least 44 px tall (a radio button's
    target is its whole label), no serious or critical axe violation; a screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"cards-{name}.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide"
    small = await page.evaluate("""() => [...document.querySelectorAll(
            'main button, main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), ' +
            'main select, main a.btn, main a.row-link, main label.pick')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.tagName + ' ' + (e.id || e.textContent.trim().slice(0, 8)),
                   Math.round(e.getBoundingClientRect().height)])
        .filter(([, h]) => h < 44)""")
    assert small == [], f"{name}: controls under 44 px: {small}"
    assert await serious_violations(page) == [], name


def _wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


async def _cashier_tries(page: Any, base: str, code: str, pin: str) -> None:
    await page.goto(f"{base}/provider/redeem")
    await page.fill("#token", code)
    await page.fill("#pin", pin)
    await page.fill("#qty-MEAL_LUNCH", "1")
    await page.click("text=下一步：核对")
    await page.wait_for_load_state("networkidle")


async def test_card_issued_letter_once_cashier_redeems_locks_and_unlock(
    live: Live, browser: Any
) -> None:
    s, base = live.s, live.base
    before = await s.balance(s.b2, "meal_assistance")
    officer = await _phone(browser)
    page = await officer.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/people/{s.b2}")
    await page.wait_for_selector("#card-form")
    await _checked(page, "01-person")
    await page.click("#issue-card")
    await page.wait_for_selector("#pin")
    letter_url = page.url
    pin = await page.inner_text("#pin")
    code = re.sub(r"\s", "", await page.inner_text("#card-code"))
    assert re.fullmatch(r"\d{6}", pin) and len(code) > 100
    assert pin not in letter_url and code not in letter_url
    await _checked(page, "02-letter")
    # printed: one A4 page, with the PIN and without the menus
    await page.emulate_media(media="print")
    assert not await page.is_visible("nav.nav")
    assert await page.is_visible("#pin")
    pdf = await page.pdf(prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    await page.emulate_media(media="screen")
    # shown once: a reload says so and shows no PIN
    await page.reload()
    await page.wait_for_selector("#pin-gone")
    assert pin not in await page.content()
    await _checked(page, "03-letter-again")

    cashier = await _phone(browser)
    till = await cashier.new_page()
    await _sign_in(till, base, "staff1")
    await _cashier_tries(till, base, code, pin)
    await till.wait_for_selector("#confirm")
    await _checked(till, "04-cashier-confirm")
    if await till.locator("#copay-method-cash").count():  # a co-payment: how it is taken
        await till.check("#copay-method-cash")
    await till.click("#confirm")
    await till.wait_for_url(f"{base}/provider/redeemed/*")
    assert await s.balance(s.b2, "meal_assistance") < before
    for left in (4, 3, 2, 1):
        await _cashier_tries(till, base, code, _wrong(pin))
        assert f"还可以再试 {left} 次" in await till.inner_text("main")
    await _checked(till, "05-cashier-wrong-pin")
    await _cashier_tries(till, base, code, _wrong(pin))
    assert "已锁定" in await till.inner_text("main")
    await _cashier_tries(till, base, code, pin)
    assert "已锁定" in await till.inner_text("main")

    await page.goto(f"{base}/officer/people/{s.b2}")
    await page.wait_for_selector("#unlock-card")
    await _checked(page, "06-person-locked")
    await page.click("#unlock-card")
    await page.wait_for_selector("text=老人卡已解锁")
    assert await page.locator("#unlock-card").count() == 0
    await _cashier_tries(till, base, code, pin)
    await till.wait_for_selector("#confirm")
    await officer.close()
    await cashier.close()


async def test_proxy_granted_and_revoked(live: Live, browser: Any) -> None:
    s, base = live.s, live.base
    await s.add_account(
        username="jiashu3", role="proxy", display_name="张小红", beneficiary_ids=[s.b3]
    )
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/people/{s.b3}")
    await page.fill("#proxy-account", "jiashu3")
    await page.fill("#proxy-name", "张小红")
    await page.select_option("#proxy-relation", "子女")
    await page.fill("#proxy-phone", "13877100123")
    await page.click("#grant-proxy")
    await page.wait_for_selector("text=已授权 张小红 代办")
    assert "13877100123" not in await page.content()
    await _checked(page, "07-proxy-granted")

    family = await _phone(browser)
    phone = await family.new_page()
    await _sign_in(phone, base, "jiashu3")
    await phone.goto(f"{base}/me")
    assert "余额" in await phone.inner_text("main")

    await page.click("#proxies [data-status=active] >> text=终止授权")
    await page.wait_for_selector("text=已终止 张小红 的代办授权")
    await _checked(page, "08-proxy-revoked")
    await phone.reload()
    main = await phone.inner_text("main")
    assert "余额" not in main and "不在您负责的范围内" in main
    await ctx.close()
    await family.close()


async def test_provider_credit_events_page(live: Live, browser: Any) -> None:
    s, base = live.s, live.base
    r = await s.provider.post(
        f"/v1/providers/{s.p1}/credit-events",
        headers=s.tokens.headers("civil_affairs", sub="web:officer", region="450103"),
        json={"kind": "warning", "points": 1, "reason": "服务记录不全，已提醒整改"},
    )
    assert r.status_code == 201, r.text
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/providers?status=approved")
    await page.click(f"a[href='/officer/providers/{s.p1}/credit']")
    await page.wait_for_selector("#credit-events")
    events = await page.inner_text("#credit-events")
    assert "警示" in events and "服务记录不全" in events and "陈经办" in events
    await _checked(page, "09-credit")
    async with page.expect_download() as download:
        await page.click("#export-xlsx")
    assert (await download.value).suggested_filename.endswith(".xlsx")
    await ctx.close()
