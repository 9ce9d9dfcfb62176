"""What was left of issue 18, each in headless Chromium on a 360 px phone against the real
system (tests/web/test_browser.py's `served_system`), with axe-core finding nothing serious:
the elder's nearby page (registered location, then the phone's; distance, meal times and
prices, nearest first); the cashier typing the short digits (their real countdown) and
choosing how the co-payment is taken before confirming; the signed-in header on a 404; the
Chinese 选择文件 button of upload fields; the officer's issuance page (the latest three runs, a
link to all) and a programme created as data named on its run's page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.ensure_tools import ensure_browser
from services.common.settings import CommonSettings
from tests.conftest import require_tool
from tests.web.axe import serious_violations
from tests.web.browser_kit import Served
from tests.web.system import CITY, DISTRICT
from tests.web.test_browser import ARGS, QR_TTL_S, SHOTS, Live, served_system
from tests.web.test_browser_usability import (
    SMALL,
    _fits_and_is_big_enough,
    _phone,
    _sign_in,
)
from tests.web.test_national_pages import two_provinces
from web.main import create_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_tool(ensure_browser)


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        await b.close()


@pytest.fixture(scope="module")
async def live(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("pages")
    ) as running_system:
        yield running_system


async def _distances(page: Any) -> list[int]:
    return [
        int(d)
        for d in await page.eval_on_selector_all(
            ".nearby-item", "els => els.map(e => e.dataset.distance)"
        )
    ]


async def test_nearby_uses_the_registered_location_then_the_phones(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/nearby")
    assert await page.locator("input#lat, input#lon").count() == 0  # nothing to type
    assert "登记的住址" in await page.inner_text("#where-text")
    items = page.locator(".nearby-item")
    assert await items.count() >= 1
    home = await _distances(page)
    assert home == sorted(home)
    first = await items.first.inner_text()
    assert "青秀区幸福助餐点" in first and re.search(r"约 \d+ 米", first), first
    # meals with their serving hours and prices, earliest first
    meals = await items.first.locator(".meals li").all_inner_texts()
    assert meals[0].startswith("午餐：11:00–13:00，15.00 元/次"), meals
    assert any(m.startswith("晚餐：17:00–18:30，12.00 元/次") for m in meals), meals
    await _fits_and_is_big_enough(page, "nearby")
    assert await serious_violations(page) == []
    await ctx.close()
    # the phone's own position, when the person allows it: a press, no typing
    ctx = await _phone(
        browser,
        permissions=["geolocation"],
        geolocation={"latitude": 22.8171, "longitude": 108.3661},
    )
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/nearby")
    await page.click("#use-here")
    await page.wait_for_url(re.compile(r".*/me/nearby\?lat=.*"))
    assert "手机现在的位置" in await page.inner_text("#where-text")
    here = await _distances(page)
    assert here == sorted(here) and here[0] < home[0] and here[0] < 100
    await _fits_and_is_big_enough(page, "nearby (phone position)")
    assert await serious_violations(page) == []
    await ctx.close()


async def test_typed_digits_count_down_and_the_copay_way_is_chosen_before_confirming(
    live: Live, browser: Any
):
    s, base = live.s, live.base
    before = await s.balance(s.b1, "disability_subsidy")
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "laowang")
    await page.goto(f"{base}/me/qr")
    await page.wait_for_selector("#qr[data-ready='1']")
    digits = await page.inner_text("#qr-digits")
    await ctx.close()
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "staff1")
    await page.fill("#token", digits)
    await page.fill("#qty-BATH_HOME", "1")
    await page.fill("#price-BATH_HOME", "30")
    await page.click("text=下一步：核对")
    await page.wait_for_selector("#confirm")
    # the digits expire with their code: the countdown is the code's real time left
    first = int(await page.inner_text("#token-left"))
    assert 0 < first <= QR_TTL_S
    await page.wait_for_function(
        f"parseInt(document.getElementById('token-left').textContent) < {first}", timeout=5000
    )
    # the co-payment's way is asked here, before confirming, and must be answered
    assert await page.inner_text("#preview-copay") == "15.00"
    assert "15.00 元怎么收" in await page.inner_text("#copay-method legend")
    confirm_url = page.url
    await page.click("#confirm")  # nothing chosen: the browser asks first
    assert page.url == confirm_url and await page.locator("#copay-method").count() == 1
    await _fits_and_is_big_enough(page, "cashier confirm with the co-payment's way")
    assert await serious_violations(page) == []
    await page.check("#copay-method-cash")
    await page.click("#confirm")
    await page.wait_for_url(f"{base}/provider/redeemed/*")
    assert await page.inner_text("#subsidy") == "15.00"
    assert await page.inner_text("#copay-way") == "现金已收"
    assert await page.locator("#copay-choice").count() == 0  # no second question
    assert await serious_violations(page) == []
    await page.reload()
    assert await page.inner_text("#copay-way") == "现金已收"
    await ctx.close()
    assert await s.balance(s.b1, "disability_subsidy") == before - 1500


async def test_an_unknown_address_shows_the_signed_in_header(live: Live, browser: Any):
    base = live.base
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await page.goto(f"{base}/no-such-page")
    assert await page.locator("#who").count() == 0  # not signed in: no header of a person
    await _sign_in(page, base, "officer")
    response = await page.goto(f"{base}/no-such-page")
    assert response.status == 404
    assert "找不到页面" in await page.title()
    who = await page.inner_text("#who")
    assert who.count("民政") <= 1 and who.strip()  # name and role, the role once
    assert await page.locator("nav.nav a[href='/officer/issuance']").count() == 1
    assert await serious_violations(page) == []
    await ctx.close()


async def test_upload_fields_have_a_chinese_button(live: Live, browser: Any, tmp_path: Path):
    base = live.base
    sample = tmp_path / "老人名单.csv"
    sample.write_text("national_id,name\n", encoding="utf-8")
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    for path in ("/officer/import", "/officer/status-import"):
        await page.goto(f"{base}{path}")
        assert await page.inner_text("label[for=file]") == "选择文件"
        button = await page.locator("#file-button").bounding_box()
        field = await page.locator("#file").bounding_box()
        assert field is not None and button is not None
        assert abs(field["width"] - button["width"]) < 2 and field["height"] >= 44
        # the native picker (English "Choose File" in an English browser) is not seen
        assert await page.eval_on_selector("#file", "e => getComputedStyle(e).opacity") == "0"
        await page.set_input_files("#file", str(sample))
        assert "老人名单.csv" in await page.inner_text("#file-name")
        await _fits_and_is_big_enough(page, path, min_font=16)
        assert await serious_violations(page) == []
    await ctx.close()


async def test_issuance_page_shows_the_latest_runs_and_names_a_programme_made_as_data(
    live: Live, browser: Any
):
    from tests.voucher.data.test_programs_api import BED

    s, base = live.s, live.base
    r = await s.voucher.post(
        "/v1/programs",
        headers=s.officer(CITY),
        json={"code": "family_bed", "region_code": CITY, "config": BED, "reason": "市政府决定"},
    )
    assert r.status_code == 201, r.text
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    this_month = datetime.now(UTC).strftime("%Y-%m")
    for period in ("2026-01", "2026-02", "2026-03", this_month):
        await page.goto(f"{base}/officer/issuance")
        await page.select_option("#program_code", "family_bed")
        await page.fill("#period", period)
        await page.select_option("#region_code", DISTRICT)  # (by its name in the picker)
        await page.click("text=下一步：核对人数和金额")
        # the check before anything is issued: the programme, month and district by name,
        # how many people and how much, the budget; nothing written until 确认发放
        await page.wait_for_url(re.compile(r".*/officer/issuance/check\?.*"))
        check = await page.inner_text("#issuance-check")
        assert "家庭养老床位" in check and period in check and "可用预算" in check
        if period == "2026-01":
            await _fits_and_is_big_enough(page, "issuance check", min_font=16)
            assert await serious_violations(page) == []
        await page.click("#confirm-issuance")
        await page.wait_for_url(re.compile(r".*/officer/issuance/[\w-]+$"))
    # the run's page names the programme as its officers published it, never 未知
    run = await page.inner_text("#run")
    assert "家庭养老床位" in run and "未知" not in run
    assert await serious_violations(page) == []
    await page.goto(f"{base}/officer/issuance")
    assert await page.locator("#recent-runs .run-item").count() == 3
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 3200, height
    await _fits_and_is_big_enough(page, "issuance", min_font=16)
    assert await serious_violations(page) == []
    await page.click("#all-runs")
    await page.wait_for_url(f"{base}/officer/issuance/runs")
    assert await page.locator("#recent-runs .run-item").count() >= 4
    assert "未知" not in await page.inner_text("#recent-runs")
    assert await serious_violations(page) == []
    await ctx.close()
    assert SMALL["width"] == 360


async def test_an_import_can_be_left_and_come_back_to(live: Live, browser: Any, tmp_path: Path):
    base = live.base
    sample = tmp_path / "去世名单.csv"
    sample.write_text("national_id,event,date\n110101199001011234,死亡,2026-12-01\n")
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/status-import")
    await page.set_input_files("#file", str(sample))
    await page.click("form[action='/officer/status-import'] button[type=submit]")
    await page.wait_for_url(re.compile(r".*/officer/imports/[0-9a-f-]+$"))
    job_url = page.url
    assert await page.locator("#import-job progress.run-progress").count() == 1
    assert await serious_violations(page) == []
    # leave for another page, then come back through the upload page's list
    await page.goto(f"{base}/officer/issuance")
    await page.goto(f"{base}/officer/status-import")
    item = page.locator("#recent-imports .import-item").first
    assert "去世名单.csv" in await item.inner_text()
    await _fits_and_is_big_enough(page, "status import with recent imports", min_font=16)
    assert await serious_violations(page) == []
    await item.locator("a.row-link").click()
    await page.wait_for_url(job_url)
    await page.wait_for_selector("#import-job[data-status=done]", timeout=15000)
    assert "已处理 1 / 1 行" in await page.inner_text("#import-job")
    assert "有误 1 行" in await page.inner_text("#summary")
    await _fits_and_is_big_enough(page, "import job", min_font=16)
    assert await serious_violations(page) == []
    await ctx.close()


async def test_the_officers_long_menu_folds_its_less_used_tasks_into_groups(
    live: Live, browser: Any
):
    """Fourteen tasks as buttons filled a phone's first screen: the everyday ones stay in the
    row, the rest open from 更多功能 in named groups; a folded page, once open, shows in the
    row as the current page; every task is still one press away."""
    base = live.base
    ctx = await _phone(browser)
    page = await ctx.new_page()
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/people")
    row = page.locator("nav.nav > a")
    assert await row.count() <= 5
    folded = page.locator("#nav-more a")
    assert not await folded.first.is_visible()
    # the menu still fits above the fold with room for the page
    nav_height = await page.evaluate("document.querySelector('nav.nav').offsetHeight")
    assert nav_height < 0.4 * SMALL["height"], nav_height
    # header and menu together leave most of the first screen to the page (they took 410
    # of 640 px: the name on two lines and the menu on three)
    page_top = await page.evaluate("document.querySelector('main').getBoundingClientRect().top")
    assert page_top < 0.45 * SMALL["height"], page_top
    assert await page.evaluate(
        "document.querySelector('#who').getBoundingClientRect().top"
        " === document.querySelector('#logout').getBoundingClientRect().top"
        " || Math.abs(document.querySelector('#who').getBoundingClientRect().bottom"
        " - document.querySelector('#logout').getBoundingClientRect().bottom) < 12"
    )  # the name and 退出登录 on one line
    await live.s.add_account(
        username="caiwu_long",
        role="finance",
        display_name="刘芳芳（南宁市民政局财务科制单）",
        region="450100",
    )
    for who in ("officer", "caiwu_long"):  # (a long name ends in …, the button stays whole)
        if who != "officer":
            await page.click("#logout")
            await _sign_in(page, base, who)
        height = await page.evaluate("document.querySelector('#logout').offsetHeight")
        assert height <= 52, (who, height)  # 退出登录 on one line, never squeezed to two
    await page.click("#logout")
    await _sign_in(page, base, "officer")
    await page.goto(f"{base}/officer/people")
    await page.click("#nav-more summary")
    assert await folded.first.is_visible()
    groups = await page.eval_on_selector_all(
        "#nav-more .nav-group", "gs => gs.map(g => g.getAttribute('aria-label'))"
    )
    assert groups == ["老人", "机构", "补贴", "监管"]
    hrefs = set(
        await page.eval_on_selector_all("nav.nav a", "as => as.map(a => a.getAttribute('href'))")
    )
    for task in ("/officer/alerts", "/officer/spot-draws", "/officer/bank-accounts", "/dashboard"):
        assert task in hrefs
    await _fits_and_is_big_enough(page, "officer-menu-open")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "officer-menu-open.png"))
    assert await serious_violations(page) == []
    await page.click("#nav-more a[href='/officer/alerts']")
    await page.wait_for_url(f"{base}/officer/alerts")
    current = page.locator("nav.nav > a[aria-current='page']")
    assert await current.inner_text() == "异常预警" and await current.is_visible()
    assert await page.locator("nav.nav a[href='/officer/alerts']").count() == 1
    await ctx.close()


async def test_the_national_dashboard_on_a_phone_names_the_provinces_and_passes_axe(
    live: Live, browser: Any, pg_admin_url: str, db_templates: dict[str, str]
):
    """A national auditor's one page at 360 px against the voucher service sharded in two
    provinces (tests/web/test_national_pages.py): each province and the country's total by
    name, every chart drawn, nothing wider than the phone, axe clean; signed out elsewhere,
    a reload lands on the sign-in page."""
    s = live.s
    await s.add_account(
        username="nation_b", role="auditor", display_name="全国审计", region="000000"
    )
    served = Served()
    async with two_provinces(s, pg_admin_url, db_templates) as router:
        voucher_url = await served.serve(router)
        web = create_app(
            s.web_settings(),
            common=CommonSettings(
                voucher_url=voucher_url,
                provider_url=live.urls["provider"],
                ledger_url=live.urls["ledger"],
            ),
        )
        try:
            async with web.router.lifespan_context(web):
                base = await served.serve(web)
                ctx = await _phone(browser)
                page = await ctx.new_page()
                await _sign_in(page, base, "nation_b")
                assert page.url == f"{base}/national/dashboard"
                main = await page.inner_text("main")
                assert "广西壮族自治区" in main and "广东省" in main and "全国合计" in main
                assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", main)
                assert "440000" not in main and "450000" not in main
                assert await page.locator("svg.chart").count() == 9
                assert await page.locator("a[href*='export.xlsx']").count() == 6
                await _fits_and_is_big_enough(page, "national-dashboard")
                assert await serious_violations(page) == []
                SHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SHOTS / "national-dashboard.png"), full_page=True)
                # the session ends (signed out everywhere from another browser): a reload
                # asks to sign in again
                other = await _phone(browser)
                elsewhere = await other.new_page()
                await _sign_in(elsewhere, base, "nation_b")
                await elsewhere.goto(f"{base}/account")
                await elsewhere.click("form[action='/logout/everywhere'] button")
                await other.close()
                await page.reload()
                assert page.url.startswith(f"{base}/login")
                await ctx.close()
        finally:
            await served.stop()
