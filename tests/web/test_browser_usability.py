"""The pages as a new user finds them (issue 18), in headless Chromium on phone-sized screens
against the real system served on free ports (tests/web/test_browser.py's `served_system`):
the payment code fits whole with the balance above it and a visible countdown on a 360×640
and a 390×844 phone; when the session ends the page sends the person to sign in; a proxy's
pages say whose vouchers they are; large text with high contrast and reading aloud; the
cashier's confirmation survives Back and reload without a second charge; the officer's and
finance pages (provider actions by state, the grouped trial balance, the budget chart); and
axe-core on every page of every role, with no violation of impact serious or critical.
Screenshots go to reports/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from scripts.ensure_tools import ensure_browser
from tests.conftest import require_tool
from tests.web.axe import serious_violations
from tests.web.system import DISTRICT, MEAL_POINT, PASSWORD
from tests.web.test_browser import ARGS, Live, served_system

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots"
SMALL = {"width": 360, "height": 640}
TALL = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_tool(ensure_browser)


@pytest.fixture(scope="module")
async def live(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("usability")
    ) as running_system:
        yield running_system


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        await b.close()


async def _phone(browser: Any, viewport: dict[str, int] = SMALL, **options: Any) -> Any:
    return await browser.new_context(
        viewport=viewport, device_scale_factor=1, locale="zh-CN", bypass_csp=True, **options
    )


async def _sign_in(page: Any, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")


async def _box(page: Any, selector: str) -> dict[str, float]:
    return await page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                     return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
                             width: r.width, height: r.height}; }""",
        selector,
    )


async def _fits_and_is_big_enough(page: Any, name: str, min_font: float = 18) -> None:
    """No sideways scrolling; body text at least `min_font` px; every control and link a
    finger presses at least 44 px tall."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{name}: {width}px wide on a {viewport}px screen"
    small_text = await page.evaluate(
        """(min) => [...document.querySelectorAll(
                'main p, main li, main td, main th, main label, main summary, main span, ' +
                'main strong, main a, main button')]
            .filter(e => e.offsetParent !== null && e.innerText.trim())
            .map(e => [e.tagName + ' ' + e.innerText.trim().slice(0, 12),
                       parseFloat(getComputedStyle(e).fontSize)])
            .filter(([, px]) => px < min)""",
        min_font,
    )
    assert small_text == [], f"{name}: text under {min_font}px: {small_text[:5]}"
    small = await _small_targets(page)
    assert small == [], f"{name}: touch targets under 44 px: {small}"


async def _small_targets(page: Any) -> list[Any]:
    """Buttons, fields, button-links, summaries and the header's and menu's links that are
    under 44 px tall (what a finger must hit)."""
    return await page.evaluate(
        """() => [...document.querySelectorAll(
                'main button, main input:not([type=hidden]), main select, main a.btn, ' +
                'main summary, header a, header button, nav a, nav summary')]
            .filter(e => e.offsetParent !== null)
            // a tick box is pressed through its label (the whole line), when it has one
            .map(e => ['checkbox', 'radio'].includes(e.type) && e.closest('label')
                      ? e.closest('label') : e)
            .map(e => [e.tagName + ' ' + (e.id || e.textContent.trim().slice(0, 8)),
                       Math.round(e.getBoundingClientRect().height)])
            .filter(([, h]) => h < 44)"""
    )


# --- the elder and the family ------------------------------------------------------------


@pytest.mark.parametrize("viewport", [SMALL, TALL], ids=["360x640", "390x844"])
async def test_payment_code_fits_whole_with_balance_above_and_a_countdown(
    live: Live, browser: Any, viewport: dict[str, int]
):
    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = await _phone(browser, viewport)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    await page.wait_for_function("document.getElementById('qr-img').naturalWidth > 0")
    name = f"usability-qr-{viewport['width']}x{viewport['height']}"
    await page.screenshot(path=str(SHOTS / f"{name}.png"))
    qr = await _box(page, "#qr-img")
    balance = await _box(page, "#qr-balance")
    countdown = await _box(page, "#qr-countdown")
    # whole, in view without scrolling, and large
    assert qr["top"] >= 0 and qr["bottom"] <= viewport["height"], qr
    assert qr["left"] >= 0 and qr["right"] <= viewport["width"], qr
    assert qr["width"] >= 240, qr
    # the balance above the code, the countdown below it, both in view
    assert balance["top"] >= 0 and balance["bottom"] <= qr["top"], (balance, qr)
    assert qr["bottom"] <= countdown["top"] and countdown["bottom"] <= viewport["height"]
    meal = await s.balance(s.b1, "meal_assistance")
    assert f"{meal // 100:,}.{meal % 100:02d}" in await page.inner_text("#qr-balance")
    first = int(await page.inner_text("#qr-left"))
    await page.wait_for_function(
        f"parseInt(document.getElementById('qr-left').textContent) < {first}", timeout=5000
    )
    await _fits_and_is_big_enough(page, name)
    await ctx.close()


async def test_the_code_page_notices_the_payment_and_shows_the_new_balance(
    live: Live, browser: Any
):
    """The elder holds the code page up; the cashier takes the payment: within seconds the
    page says 付款成功 with the subsidy and the co-payment, shows the balance as it is now
    and a fresh code (the one shown is used)."""
    import uuid

    from tests.web.test_pages import fresh_code

    s, base = live.s, live.base
    ctx = await _phone(browser, TALL)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    r = await s.voucher.post(
        "/v1/redemptions",
        headers={"Authorization": f"Bearer {s.terminal_secret}"},
        json={
            "token": await fresh_code(s, s.b1),
            "service_code": "BATH_HOME",
            "gross_fen": 2_000,
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 201, r.text
    await page.wait_for_url("**/me/qr?paid=*", timeout=15_000)
    said = await page.inner_text("#paid")
    sale = r.json()
    assert "付款成功" in said and f"{sale['subsidy_fen'] // 100}.00" in said
    left = sale["balance_fen"]
    assert f"{left // 100:,}.{left % 100:02d}" in await page.inner_text("#qr-balance")
    await page.wait_for_selector("#qr[data-ready='1']")
    await page.wait_for_timeout(4_000)  # the same sale does not open the page again
    assert page.url.endswith(f"paid={sale['id']}")
    await ctx.close()


async def test_elder_pages_have_big_text_and_big_targets(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    for path in ("/me", "/me/history", "/me/copay", "/me/nearby"):
        await page.goto(f"{base}{path}")
        await _fits_and_is_big_enough(page, f"elder {path}")
    await ctx.close()


async def test_after_the_session_ends_the_code_page_sends_to_sign_in(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The session ends elsewhere (signed out on another tab: the cookie is gone).
    other = await ctx.new_page()
    await other.goto(f"{base}/me")
    await other.click("#logout")
    await other.wait_for_url(f"{base}/login")
    await other.close()
    await page.click("#qr-refresh")
    await page.wait_for_url(f"{base}/login?expired=1", timeout=10_000)
    assert "登录已过期" in await page.inner_text("#expired")  # told why, not just a form
    assert not [e for e in errors if "JSON" in e], errors
    # signing in again comes back to the code
    await page.fill("#username", "laowang")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    await ctx.close()


async def test_proxy_pages_say_whose_vouchers_they_are(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser, TALL)
    page = await ctx.new_page()
    await _sign_in(page, base, "xiaoli")
    for path in ("/me", "/me/qr", "/me/history", "/me/copay", "/me/nearby"):
        await page.goto(f"{base}{path}")
        whose = await page.inner_text("#whose")
        assert "王**" in whose and "王大爷" not in whose, (path, whose)
    await page.goto(f"{base}/me")
    await page.select_option("#beneficiary_id", live.s.b2)
    await page.click("text=切换")
    await page.wait_for_selector("text=已切换服务对象")
    assert "李**" in await page.inner_text("#whose")
    await page.screenshot(path=str(SHOTS / "usability-proxy-whose.png"), full_page=True)
    await page.goto(f"{base}/me/qr")
    assert "李**" in await page.inner_text("#whose")
    await ctx.close()


async def test_big_text_high_contrast_and_read_aloud(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser)
    # Record what would be spoken (headless Chromium has no voices to hear).
    await ctx.add_init_script(
        """window.__spoken = [];
           if (window.speechSynthesis) {
             window.speechSynthesis.speak = (u) => window.__spoken.push([u.lang, u.text]);
           }"""
    )
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    await page.click("#read-aloud")
    spoken = await page.evaluate("window.__spoken")
    assert spoken and spoken[-1][0] == "zh-CN"
    assert "余额" in spoken[-1][1] and "秒后自动换新码" in spoken[-1][1]

    normal = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    await page.click("#big-mode")
    assert await page.get_attribute("#big-mode", "aria-pressed") == "true"
    big = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert big >= 26 > normal
    colours = await page.evaluate(
        "[getComputedStyle(document.body).color, getComputedStyle(document.body).backgroundColor]"
    )
    assert colours == ["rgb(255, 255, 255)", "rgb(0, 0, 0)"]
    # opened again in large type: the code first, whole on the first screen, the balances
    # (larger now) under it
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    await page.wait_for_function("document.getElementById('qr-img').naturalWidth > 0")
    await page.screenshot(path=str(SHOTS / "usability-qr-big-mode.png"))
    qr = await _box(page, "#qr-img")
    assert qr["right"] <= SMALL["width"]
    assert qr["top"] >= 0 and qr["bottom"] <= SMALL["height"] and qr["width"] >= 240, qr
    balance = await _box(page, "#qr-balance")
    assert balance["top"] >= qr["bottom"], (balance, qr)
    # the digits to read out when scanning fails stay whole on the screen, wrapping if need be
    await page.wait_for_function("document.getElementById('qr-digits').textContent.length > 10")
    digits = await _box(page, "#qr-digits")
    assert digits["right"] <= SMALL["width"], digits
    assert await page.evaluate("document.documentElement.scrollWidth") <= SMALL["width"]
    # kept on every page of theirs, with its button there to turn it off
    for path in ("/me", "/me/copay", "/me/nearby"):
        await page.goto(f"{base}{path}")
        assert await page.evaluate("document.documentElement.classList.contains('big-mode')")
        assert await page.get_attribute("#big-mode", "aria-pressed") == "true", path
    # kept on the next page and after a reload; the history reads its rows aloud
    await page.goto(f"{base}/me/history")
    assert await page.evaluate("document.documentElement.classList.contains('big-mode')")
    assert await page.get_attribute("#big-mode", "aria-pressed") == "true"
    await page.click("#read-aloud")
    spoken = await page.evaluate("window.__spoken")
    assert spoken[-1][0] == "zh-CN" and spoken[-1][1]
    assert not await serious_violations(page)
    await page.click("#big-mode")
    await page.reload()
    assert not await page.evaluate("document.documentElement.classList.contains('big-mode')")
    await ctx.close()


# --- officers and finance --------------------------------------------------------------------


async def test_trial_balance_collapses_by_class_and_searches(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser, TALL)
    page = await ctx.new_page()
    await _sign_in(page, base, "finance")
    await page.goto(f"{base}/finance")
    classes = page.locator("details.tb-class")
    assert await classes.count() >= 2
    # closed at first: a phone sees the classes and their subtotals, not 100+ rows
    assert await page.locator("tr.tb-row").first.is_visible() is False
    await page.screenshot(path=str(SHOTS / "usability-trial-balance.png"), full_page=True)
    await page.click("details.tb-class[data-class='2'] > summary")
    await page.click("details.tb-account[data-code='2101'] > summary")
    assert await page.locator("details.tb-account[data-code='2101'] tr.tb-row").first.is_visible()
    await page.fill("#tb-q", "流通中")
    await page.click("text=查询")
    await page.wait_for_selector("#tb-found")
    assert await page.locator("details.tb-account").count() == 1
    assert await page.locator("tr.tb-row").first.is_visible()
    await _fits_and_is_big_enough(page, "trial balance", min_font=16)
    await page.goto(f"{base}/finance/budget?region_code={DISTRICT}")
    assert await page.locator(".budget-chart svg").count() == 3
    text = await page.inner_text("main")
    for word in ("已下达", "已承诺", "已支出", "已释放", "可用"):
        assert word in text
    await page.screenshot(path=str(SHOTS / "usability-budget.png"), full_page=True)
    await ctx.close()


async def test_officer_sees_only_the_actions_a_providers_state_allows(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser, TALL)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/providers?status=approved")
    cards = page.locator("section.provider")
    assert await cards.count() >= 1
    for i in range(await cards.count()):
        card = cards.nth(i)
        assert await card.get_attribute("data-status") == "approved"
        assert await card.locator("button", has_text="暂停").count() == 1
        assert await card.locator("button", has_text="批准").count() == 0
        assert "已批准" in await card.inner_text()
    await page.screenshot(path=str(SHOTS / "usability-officer-providers.png"), full_page=True)
    # long work: the issuance page lists the region's runs with their progress, to come back to
    await page.goto(f"{base}/officer/issuance")
    runs = page.locator("#recent-runs .run-item")
    assert await runs.count() >= 1
    assert await runs.first.locator("progress.run-progress").count() == 1
    await runs.first.locator("a.row-link").click()
    await page.wait_for_url(f"{base}/officer/issuance/*")
    assert "已处理" in await page.inner_text("#run")
    await _fits_and_is_big_enough(page, "issuance run")
    await ctx.close()


# --- the cashier ---------------------------------------------------------------------------


async def test_a_new_terminals_secret_is_copied_with_one_press_and_says_where_it_goes(
    live: Live, browser: Any
):
    """The provider admin opens a terminal: the secret shown once, a 复制密钥 button that
    puts exactly it on the clipboard and says so, and the steps to set up the device."""
    base = live.base
    ctx = await _phone(browser, permissions=["clipboard-read", "clipboard-write"])
    page = await ctx.new_page()
    await _sign_in(page, base, "admin1")
    await page.goto(f"{base}/provider/admin")
    await page.fill("#name", "收银台二号机")
    await page.click("text=开通新终端")
    await page.wait_for_selector("#secret")
    secret = (await page.inner_text("#secret")).strip()
    assert secret.startswith("yyt_")
    steps = await page.inner_text("#secret-steps")
    assert "终端设置" in steps and "粘贴" in steps
    await page.click("#copy-secret")
    await page.wait_for_function("document.getElementById('copy-done').textContent.length > 0")
    assert "已复制" in await page.inner_text("#copy-done")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await _fits_and_is_big_enough(page, "new terminal secret")
    assert await serious_violations(page) == []
    await ctx.close()


async def test_cashier_confirm_survives_reload_and_back_without_a_second_charge(
    live: Live, browser: Any
):
    from tests.web.test_pages import fresh_code

    s, base = live.s, live.base
    before = await s.balance(s.b1, "disability_subsidy")
    token = await fresh_code(s, s.b1)
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "staff1")
    # a refused bill first (digits typed wrong): step 1 again, with the bill and why
    await page.fill("#token", "1111 2222 3333 4444 55")
    await page.fill("#qty-BATH_HOME", "1")
    await page.fill("#price-BATH_HOME", "30")
    await page.click("text=下一步：核对")
    await page.wait_for_selector("text=这串数字不对或已过期")
    assert page.url.endswith("/provider/redeem?again=1")
    assert await page.input_value("#price-BATH_HOME") == "30"
    await page.fill("#token", token)
    await page.click("text=下一步：核对")
    await page.wait_for_selector("#confirm")
    # the confirm step has its own address: a reload shows the same bill, asks nothing
    assert "/provider/redeem/confirm?k=" in page.url and token not in page.url
    await page.reload()
    await page.wait_for_selector("#confirm")
    # Back to the refused step 1 and Forward again: pages, never "resubmit the form?"
    confirm_url = page.url
    await page.go_back()
    await page.wait_for_selector("#token")
    assert "/provider/redeem" in page.url and "confirm" not in page.url
    await page.go_forward()
    await page.wait_for_selector("#confirm")
    assert page.url == confirm_url
    # the confirm step: subsidy, co-payment and the code's countdown
    assert await page.inner_text("#preview-subsidy") == "15.00"  # 50 % at home
    assert await page.inner_text("#preview-copay") == "15.00"
    first = int(await page.inner_text("#token-left"))
    await page.wait_for_function(
        f"parseInt(document.getElementById('token-left').textContent) < {first}", timeout=5000
    )
    await _fits_and_is_big_enough(page, "cashier confirm", min_font=18)
    await page.screenshot(path=str(SHOTS / "usability-cashier-confirm.png"), full_page=True)
    assert await serious_violations(page) == []
    await page.check("#copay-method-cash")
    await page.click("#confirm")
    await page.wait_for_url(f"{base}/provider/redeemed/*")
    result_url = page.url
    assert await page.inner_text("#subsidy") == "15.00"
    await page.screenshot(path=str(SHOTS / "usability-cashier-result.png"), full_page=True)
    assert await serious_violations(page) == []
    await page.reload()
    assert page.url == result_url and await page.inner_text("#subsidy") == "15.00"
    # Back: the confirm step, already paid, goes to the same result and says so; no
    # "confirm form resubmission" from the browser, no second charge
    await page.go_back()
    await page.wait_for_url(result_url)
    main = await page.inner_text("main")
    assert "已经收款了，没有重复收费" in main and "已经用过" not in main
    # the bill form sent again with the same code shows that redemption too
    await page.goto(f"{base}/provider/redeem")
    await page.fill("#token", token)
    await page.fill("#qty-BATH_HOME", "1")
    await page.fill("#price-BATH_HOME", "30")
    await page.click("text=下一步：核对")
    await page.wait_for_url(f"{base}/provider/redeemed/*")
    assert page.url == result_url
    main = await page.inner_text("main")
    assert "已经收过款了" in main and "已经用过" not in main
    # the co-payment's way chosen before confirming stands: no second question
    assert await page.inner_text("#copay-way") == "现金已收"
    assert await page.locator("#copay-choice").count() == 0
    await page.goto(result_url)
    assert await page.inner_text("#subsidy") == "15.00"
    assert await s.balance(s.b1, "disability_subsidy") == before - 1500
    await ctx.close()


# --- accessibility: axe-core on every page of every role --------------------------------------

PAGES: dict[str, list[str]] = {
    "laowang": ["/me", "/me/qr", "/me/copay", "/me/history", "/me/nearby", "/account"],
    "xiaoli": ["/me", "/me/qr", "/me/copay", "/me/history", "/me/nearby"],
    "staff1": ["/provider/redeem", "/provider/today", "/account"],
    "admin1": [
        "/provider/admin",
        "/provider/admin/prices",
        "/provider/claims",
        "/provider/statement",
        "/provider/redeem",
        "/provider/today",
    ],
    "officer": [
        "/officer/enrol",
        "/officer/import",
        "/officer/providers",
        "/officer/providers?status=applied",
        "/officer/providers?status=approved",
        "/officer/bank-accounts",
        "/officer/price-changes",
        "/officer/issuance",
        "/officer/issuance/runs",
        "/officer/status-import",
        "/dashboard",
        "/account",
    ],
    "finance": [
        "/finance",
        "/finance?q=应付",
        "/finance/claims",
        "/finance/payments",
        "/finance/aging",
        "/finance/reconciliation",
        "/finance/budget",
        "/dashboard",
    ],
    "auditor": [
        "/audit/entries",
        "/audit/trial-balance",
        "/audit/chain",
        "/audit/log",
        "/finance/reconciliation",
        "/finance/payments",
        "/finance/aging",
    ],
    "useradmin": ["/admin/users", "/admin/users/new", "/account"],
}


async def test_axe_finds_nothing_serious_on_any_page_of_any_role(live: Live, browser: Any):
    base = live.base
    found: dict[str, list[str]] = {}
    small: dict[str, list[Any]] = {}
    ctx = await _phone(browser)
    page = await ctx.new_page()
    # axe really runs: a page with an unlabelled field and an empty button is caught
    await page.set_content('<html lang="zh-CN"><body><input><button></button></body></html>')
    caught = await serious_violations(page)
    assert any(v.startswith("label") for v in caught), caught
    assert any(v.startswith("button-name") for v in caught), caught
    for path in ("/login", "/no-such-page"):
        await page.goto(f"{base}{path}")
        found[f"anonymous {path}"] = await serious_violations(page)
    await ctx.close()
    # a name typed as one long word (a terminal's) must wrap, not widen the page
    admin = live.s.tokens.headers("provider_admin", sub="test:admin", provider_id=live.s.p1)
    r = await live.s.provider.post(
        f"/v1/providers/{live.s.p1}/terminals", json={"name": "前台" + "A" * 58}, headers=admin
    )
    assert r.status_code == 201, r.text
    # a dearer price list waiting: the officer's queue and the admin's notice are checked too
    dearer = [
        {**item, "price_fen": item["price_fen"] + 100, "name": item["name"] + "（新配方）"}
        for item in MEAL_POINT["services"]
    ]
    r = await live.s.provider.put(
        f"/v1/providers/{live.s.p1}/services", json={"services": dearer}, headers=admin
    )
    assert r.status_code == 202, r.text
    wide: dict[str, int] = {}
    for username, paths in PAGES.items():
        ctx = await _phone(browser)
        page = await ctx.new_page()
        await _sign_in(page, base, username)
        for path in [*paths, "/no-such-page"]:
            await page.goto(f"{base}{path}")
            await page.wait_for_load_state("networkidle")
            found[f"{username} {path}"] = await serious_violations(page)
            small[f"{username} {path}"] = await _small_targets(page)
            width = await page.evaluate("document.documentElement.scrollWidth")
            if width > page.viewport_size["width"]:
                wide[f"{username} {path}"] = width
        await ctx.close()
    assert wide == {}, f"wider than the phone: {wide}"
    bad = {where: v for where, v in found.items() if v}
    assert bad == {}, "\n".join(f"{where}: {v}" for where, v in bad.items())
    tiny = {where: v for where, v in small.items() if v}
    assert tiny == {}, "\n".join(f"{where}: under 44 px: {v}" for where, v in tiny.items())


async def test_digits_under_the_qr_can_be_typed_at_the_counter(live: Live, browser: Any):
    s, base = live.s, live.base
    before = await s.balance(s.b1, "disability_subsidy")
    ctx = await _phone(browser, TALL)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    digits = await page.inner_text("#qr-digits")
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4} \d{2}", digits), digits
    box = await _box(page, "#qr-digits")
    assert box["right"] <= TALL["width"] and box["bottom"] <= TALL["height"]
    await ctx.close()
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "staff1")
    await page.fill("#token", digits)
    await page.fill("#qty-BATH_HOME", "1")
    await page.fill("#price-BATH_HOME", "6")
    await page.click("text=下一步：核对")
    await page.wait_for_selector("#confirm")
    assert await page.inner_text("#preview-subsidy") == "3.00"
    await page.check("#copay-method-cash")
    await page.click("#confirm")
    await page.wait_for_url(f"{base}/provider/redeemed/*")
    assert await page.inner_text("#subsidy") == "3.00"
    await ctx.close()
    assert await s.balance(s.b1, "disability_subsidy") == before - 300


async def test_what_was_typed_survives_a_session_that_ended_meanwhile(live: Live, browser: Any):
    """An officer fills in the enrolment form; the session ends meanwhile (signed out on
    another tab, as the idle timeout would); pressing 登记 leads to signing in, which comes
    back to the form with everything typed filled in again, once, and nothing enrolled."""
    base = live.base
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/enrol")
    typed = {"#name": "蒙奶奶", "#address": "青秀区新竹路8号", "#assessor": "南宁市评估中心"}
    for selector, value in typed.items():
        await page.fill(selector, value)
    # The officer ends every session from another device: this page's cookie is still
    # there, its session is not (as after the idle timeout).
    elsewhere = await _phone(browser)
    other = await elsewhere.new_page()
    await _sign_in(other, base, "officer")
    await other.goto(f"{base}/account")
    await other.click("#logout-everywhere")
    await other.wait_for_url(f"{base}/login")
    await elsewhere.close()
    await page.click("#enrol-send")
    await page.wait_for_url(f"{base}/login?expired=1", timeout=10_000)
    await page.fill("#username", "officer")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/officer/enrol")
    assert "请核对后再提交" in await page.inner_text("#draft-restored")
    for selector, value in typed.items():
        assert await page.input_value(selector) == value, selector
    assert await page.input_value("input[name=csrf_token]") != ""  # the new session's own
    # Once: reloading (or coming back later) shows the empty form.
    await page.reload()
    assert await page.input_value("#name") == ""
    assert await page.query_selector("#draft-restored") is None
    await ctx.close()


async def test_the_officer_approves_a_dearer_price_list_on_a_phone(live: Live, browser: Any):
    """The price review page fits a phone (big text, big buttons): the raised item's price
    now and asked for, then 批准 and the list is in force."""
    s, base = live.s, live.base
    admin = s.tokens.headers("provider_admin", sub="test:admin", provider_id=s.p1)
    dearer = [
        {**item, "price_fen": item["price_fen"] + 200} if item["code"] == "MEAL_LUNCH" else item
        for item in MEAL_POINT["services"]
    ]
    r = await s.provider.put(
        f"/v1/providers/{s.p1}/services", json={"services": dearer}, headers=admin
    )
    assert r.status_code == 202, r.text
    ctx = await _phone(browser)
    page = await ctx.new_page()
    try:
        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/price-changes")
        card = page.locator(f"[data-change='{r.json()['id']}']")
        assert "申请" in await card.inner_text()
        await _fits_and_is_big_enough(page, "officer price changes", min_font=16)
        await page.screenshot(path=str(SHOTS / "usability-officer-price-changes.png"))
        await card.locator("button.approve").click()
        await page.wait_for_selector("text=已批准，今后按新价格收费")
        prices = (await s.provider.get(f"/v1/providers/{s.p1}", headers=s.officer())).json()
        lunch = next(i for i in prices["services"] if i["code"] == "MEAL_LUNCH")
        assert (
            lunch["price_fen"] == next(i for i in dearer if i["code"] == "MEAL_LUNCH")["price_fen"]
        )
    finally:
        await ctx.close()
        await s.set_prices(s.p1, MEAL_POINT["services"])
