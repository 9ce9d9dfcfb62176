"""The walk in a real browser (headless Chromium via Playwright) against the real system.

The ledger, provider and voucher apps and the web app are served by uvicorn on free ports
(the services on fresh databases, seeded through their APIs; see tests/web/system.py), the
outbox relay runs as its own process (`python -m services.cli relay`), and the web app calls
the services over HTTP like in production. The walk: a beneficiary signs in on a phone-sized
screen and shows the QR code (it refreshes by itself); provider staff scan it with the camera
(Chromium's fake camera plays a video of that very code, decoded by the vendored jsQR), enter
the bill and see subsidy and co-payment before they confirm; the relay posts the redemption
to the ledger; an auditor verifies the hash chain and finds the redemption's entry in the
ledger browser; the provider admin claims the month; a finance officer (not the preparer)
approves the claim, sees it in the aging, puts it in a payment batch and downloads the payment
file (checked against the SHA-256 on the page); another finance officer (not the batch's
maker) uploads the bank's confirmation built from it; the provider admin sees the payment in the month's statement. Screenshots go to
reports/screenshots/.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from scripts.ensure_tools import ensure_browser
from services.common.settings import CommonSettings
from tests.conftest import require_tool
from tests.web.browser_kit import Served, bank_confirmation, read_qr, until, y4m_of_qr
from tests.web.system import DISTRICT, PASSWORD, System, system
from web.main import create_app
from web.routes.payments import OWN_BATCH

pytestmark = pytest.mark.browser
# Playwright evaluates its wait predicates with eval, which our CSP (script-src 'self')
# forbids; contexts bypass CSP for that only. The page scripts themselves are same-origin files.
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
QR_TTL_S = 180  # long enough for the staff's browser to start on a busy machine
MEAL, DISABILITY = "meal_assistance", "disability_subsidy"


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_tool(ensure_browser)


class Live:
    def __init__(self, s: System, base: str, urls: dict[str, str]) -> None:
        self.s = s
        self.base = base
        self.urls = urls


@pytest.fixture(scope="module")
async def live(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("walk")
    ) as running_system:
        yield running_system


@asynccontextmanager
async def served_system(
    pg_admin_url: str, db_templates: dict[str, str], tokens: Any, tmp: Path, **web_settings: Any
) -> AsyncIterator[Live]:
    """The system served on free ports with the relay running (other browser modules use it
    too; `web_settings` add to the web app's settings)."""
    async with system(pg_admin_url, db_templates, tokens, tmp, qr_ttl_s=QR_TTL_S) as s:
        served = Served()
        relay: asyncio.subprocess.Process | None = None
        extra: list[httpx.AsyncClient] = []
        try:
            urls = {
                name: await served.serve(app)
                for name, app in (
                    ("ledger", s.ledger_app),
                    ("provider", s.provider_app),
                    ("voucher", s.voucher_app),
                )
            }
            # The ledger's settlement calls the voucher service over HTTP from now on.
            voucher_http = httpx.AsyncClient(base_url=urls["voucher"], timeout=30)
            provider_http = httpx.AsyncClient(base_url=urls["provider"], timeout=30)
            extra += [voucher_http, provider_http]
            s.ledger_app.state.voucher_client = voucher_http
            s.ledger_app.state.provider_client = provider_http
            # Refresh the code a few seconds after it is shown, so the walk sees the page
            # fetch a new one by itself.
            web = create_app(
                s.web_settings(qr_refresh_margin_s=QR_TTL_S - 4, **web_settings),
                common=CommonSettings(
                    voucher_url=urls["voucher"],
                    provider_url=urls["provider"],
                    ledger_url=urls["ledger"],
                ),
            )
            async with web.router.lifespan_context(web):
                base = await served.serve(web)
                relay = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "services.cli",
                    "relay",
                    "--idle",
                    "0.1",
                    cwd=ROOT,
                    env=dict(
                        os.environ,
                        YIYANG_ENV="test",
                        YIYANG_VOUCHER_DATABASE_URL=s.dbs["voucher"].app_url,
                        YIYANG_LEDGER_URL=urls["ledger"],
                    ),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                yield Live(s, base, urls)
        finally:
            if relay is not None and relay.returncode is None:
                relay.send_signal(signal.SIGTERM)  # it stops after the batch in hand
                try:
                    await asyncio.wait_for(relay.wait(), 10)
                except TimeoutError:
                    relay.kill()
                    await relay.wait()
            for c in extra:
                await c.aclose()
            await served.stop()


async def _sign_in(page, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


async def test_walk_qr_redeem_ledger_claim_approval(live: Live, chromium: Path, tmp_path: Path):
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    meal_before = await s.balance(s.b1, MEAL)
    care = await s.balance(s.b1, DISABILITY)

    async with async_playwright() as pw:
        # 1. The beneficiary, on a phone: balances, then the payment code.
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(
            viewport={"width": 412, "height": 860},
            device_scale_factor=1,
            locale="zh-CN",
            bypass_csp=True,
        )
        page = await phone.new_page()
        await _sign_in(page, base, "laowang")
        main = await page.inner_text("main")
        assert _yuan(care) in main and _yuan(meal_before) in main
        font_px = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        assert font_px >= 18
        button_h = await page.evaluate(
            "document.querySelector('.btn-main').getBoundingClientRect().height"
        )
        assert button_h >= 48
        await page.screenshot(path=str(SHOTS / "01-beneficiary-home.png"), full_page=True)

        await page.click("text=出示付款码")
        await page.wait_for_selector("#qr[data-ready='1']")
        first = await page.get_attribute("#qr-img", "src")
        await page.wait_for_function("document.getElementById('qr-img').naturalWidth > 0")
        await page.screenshot(path=str(SHOTS / "02-beneficiary-qr.png"), full_page=True)
        # The page replaces the code by itself before it expires.
        await page.wait_for_function(
            f"document.getElementById('qr-img').getAttribute('src') !== {first!r}", timeout=20_000
        )
        await page.wait_for_function("document.getElementById('qr-img').naturalWidth > 0")
        token = await read_qr(page)
        assert token, "the QR picture on screen could not be read"
        await phone.close()
        await browser.close()

        # 2. Provider staff scan it with the camera, enter the bill, check, confirm.
        video = tmp_path / "qr.y4m"
        y4m_of_qr(token, video)
        browser = await pw.chromium.launch(
            executable_path=str(chromium),
            args=[
                *ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        ctx = await browser.new_context(
            viewport={"width": 800, "height": 1000}, locale="zh-CN", bypass_csp=True
        )
        await ctx.grant_permissions(["camera"], origin=base)
        page = await ctx.new_page()
        await _sign_in(page, base, "staff1")
        await page.click("#scan-start")
        await page.wait_for_function(
            f"document.getElementById('token').value === {token!r}", timeout=30_000
        )
        await page.fill("#qty-MEAL_LUNCH", "1")
        assert await page.inner_text("#bill-total") == "15.00"  # the page adds up the bill
        await page.screenshot(path=str(SHOTS / "03-provider-redeem.png"), full_page=True)
        await page.click("text=下一步：核对")
        await page.wait_for_selector("#confirm")
        check = await page.inner_text("main")
        assert "15.00" in check and "午餐" in check
        # Subsidy and co-payment are shown before confirming (POST /v1/redemptions/preview).
        assert await page.inner_text("#preview-subsidy") == "5.00"
        assert await page.inner_text("#preview-copay") == "10.00"
        await page.check("#copay-method-cash")  # how the co-payment is taken, asked first
        await page.screenshot(path=str(SHOTS / "04-provider-confirm.png"), full_page=True)
        await page.click("#confirm")
        await page.wait_for_selector("#subsidy")
        # 老年助餐 pays 5 yuan a meal: the rest is the co-payment.
        assert await page.inner_text("#subsidy") == "5.00"
        assert await page.inner_text("#copay") == "10.00"
        await page.screenshot(path=str(SHOTS / "05-provider-result.png"), full_page=True)
        await ctx.close()
        assert await s.balance(s.b1, MEAL) == meal_before - 500

        # 3. The relay (its own process) posts it to the ledger.
        async def posted() -> bool:
            return (
                await s.count("ledger", "SELECT count(*) FROM entry WHERE kind = 'redemption'") == 1
            )

        await until(posted, 60, "the relay to post the redemption")

        # 4. The auditor verifies the chain and finds the redemption in the ledger browser.
        ctx = await browser.new_context(
            viewport={"width": 1000, "height": 900}, locale="zh-CN", bypass_csp=True
        )
        page = await ctx.new_page()
        await _sign_in(page, base, "auditor")
        await page.goto(f"{base}/audit/chain")
        await page.click("#verify")
        await page.wait_for_selector("#chain-result")
        assert "账本完整" in await page.inner_text("#chain-result")
        entries = await s.count("ledger", "SELECT count(*) FROM entry")
        assert await page.inner_text("#entries-checked") == str(entries)
        await page.screenshot(path=str(SHOTS / "06-auditor-chain.png"), full_page=True)
        await page.goto(f"{base}/audit/entries?provider_id={s.p1}")
        assert await page.locator(".entry").count() == 1
        assert "5.00" in await page.inner_text(".entry")
        await page.screenshot(path=str(SHOTS / "07-auditor-redemption-entry.png"), full_page=True)
        await page.click("#logout")
        await page.wait_for_url(f"{base}/login")

        # 5. The provider admin claims the month.
        await _sign_in(page, base, "admin1")
        month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        await page.goto(f"{base}/provider/claims?period={month}")
        assert await page.inner_text("#claimable-count") == "1"
        assert await page.inner_text("#claimable-total") == "5.00"
        await page.screenshot(path=str(SHOTS / "08-provider-claim.png"), full_page=True)
        await page.check("input[name=sure]")  # the month is still in progress
        await page.click("#claim")
        await page.wait_for_selector("text=已提交结算申请")
        assert "待财务审批" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "09-provider-claimed.png"), full_page=True)
        await page.click("#logout")

        # 6. A finance officer (not the one who prepared it) approves.
        await _sign_in(page, base, "finance2")
        await page.goto(f"{base}/finance/claims")
        card = await page.inner_text(".claim")
        # The submitter by name (the web account's display name), not a login id.
        assert "青秀区幸福助餐点" in card and "5.00" in card and "孙主任" in card
        assert "web:admin1" not in card
        await page.screenshot(path=str(SHOTS / "10-finance-claim.png"), full_page=True)
        await page.click(".claim button.approve")
        await page.wait_for_selector("text=已审批通过")
        await page.screenshot(path=str(SHOTS / "11-finance-approved.png"), full_page=True)
        await page.goto(f"{base}/finance")
        assert "借贷平衡" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "12-finance-trial-balance.png"), full_page=True)

        # 7. Approved and unpaid: the aging shows it; finance pays it in a batch.
        await page.goto(f"{base}/finance/aging")
        assert "5.00" in await page.inner_text(f'tr[data-provider="{s.p1}"]')
        await page.screenshot(path=str(SHOTS / "18-finance-aging.png"), full_page=True)
        await page.goto(f"{base}/finance/payments")
        assert await page.is_checked("#new-batch input[name=claim_ids]")
        await page.screenshot(path=str(SHOTS / "19-finance-payments.png"), full_page=True)
        await page.click("#make-batch")
        await page.wait_for_selector("text=已生成付款批次")
        assert await page.get_attribute("#batch-state", "data-state") == "pending"
        # long work: the batch shows how far the bank has got, and can be left and come back to
        count = int(await page.inner_text("#batch-count"))
        assert f"已处理 0 / {count} 笔" in await page.inner_text("#batch-progress")
        sha = (await page.inner_text("#file-sha256")).strip()
        await page.screenshot(path=str(SHOTS / "20-finance-batch.png"), full_page=True)
        async with page.expect_download() as download:
            await page.click("#download")
        file_bytes = await asyncio.to_thread(Path(await (await download.value).path()).read_bytes)
        assert hashlib.sha256(file_bytes).hexdigest() == sha
        # Maker-checker: whoever made the batch does not post its payments.
        assert OWN_BATCH in await page.inner_text("#own-batch")
        assert await page.locator("#upload").count() == 0
        batch_url = page.url
        await page.click("#logout")

        # 8. Another finance officer uploads the bank's confirmation.
        await _sign_in(page, base, "finance")
        await page.goto(batch_url)
        assert await page.locator("#own-batch").count() == 0
        await page.set_input_files(
            "#file",
            files=[
                {
                    "name": "bank-confirmation.csv",
                    "mimeType": "text/csv",
                    "buffer": bank_confirmation(file_bytes),
                }
            ],
        )
        await page.click("#upload-button")
        await page.wait_for_selector("#confirmation-result")
        assert await page.get_attribute("#batch-state", "data-state") == "paid"
        assert await page.inner_text("#batch-paid") == "5.00"
        assert f"已处理 {count} / {count} 笔（100%）" in await page.inner_text("#batch-progress")
        await page.screenshot(path=str(SHOTS / "21-finance-batch-paid.png"), full_page=True)
        # the batch fits a 360 px phone (its reference wraps, its lines scroll in their box)
        small = await browser.new_context(
            viewport={"width": 360, "height": 740}, locale="zh-CN", bypass_csp=True
        )
        on_phone = await small.new_page()
        await _sign_in(on_phone, base, "finance")
        await on_phone.goto(batch_url)
        assert await on_phone.evaluate("document.documentElement.scrollWidth") <= 360
        await small.close()
        await page.click("#logout")

        # 9. The provider admin sees the payment in the month's statement.
        await _sign_in(page, base, "admin1")
        await page.goto(f"{base}/provider/statement")
        assert await page.inner_text("#st-redemptions") == "5.00"
        assert await page.inner_text("#st-payments") == "5.00"
        assert await page.inner_text("#st-closing") == "0.00"
        assert await page.locator("svg.chart rect").count() >= 1
        await page.screenshot(path=str(SHOTS / "22-provider-statement.png"), full_page=True)
        await ctx.close()
        await browser.close()
    assert await s.count("ledger", "SELECT status || ' ' || approved_by FROM claim") == (
        "paid web:finance2"
    )
    assert (
        await s.count("ledger", "SELECT count(*) FROM entry WHERE kind = 'settlement_payment'") == 1
    )


async def test_proxy_and_back_office_pages_render_in_the_browser(live: Live, chromium: Path):
    """A proxy switches person on a phone; officer, finance and auditor pages render with
    their charts and tables (screenshots for review)."""
    from playwright.async_api import async_playwright

    s, base = live.s, live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, locale="zh-CN", bypass_csp=True
        )
        page = await phone.new_page()
        await _sign_in(page, base, "xiaoli")
        assert "面额 500.00 元" in await page.inner_text("main")
        await page.select_option("#beneficiary_id", s.b2)
        await page.click("text=切换")
        await page.wait_for_selector("text=已切换服务对象")
        assert "面额 800.00 元" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "13-proxy-switched.png"), full_page=True)
        await phone.close()

        ctx = await browser.new_context(
            viewport={"width": 1000, "height": 900}, locale="zh-CN", bypass_csp=True
        )
        page = await ctx.new_page()
        await _sign_in(page, base, "officer")
        await page.fill("#national_id", "123")
        await page.screenshot(path=str(SHOTS / "14-officer-enrol.png"), full_page=True)
        await page.goto(f"{base}/officer/providers?status=applied")
        assert "仁爱" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "15-officer-providers.png"), full_page=True)
        await page.click("#logout")
        await _sign_in(page, base, "finance")
        await page.goto(f"{base}/finance/budget?region_code={DISTRICT}")
        assert await page.locator("svg.chart rect").count() >= 2
        await page.screenshot(path=str(SHOTS / "16-finance-budget.png"), full_page=True)
        await page.click("#logout")
        await _sign_in(page, base, "auditor")
        assert await page.locator(".entry").count() >= 1
        await page.screenshot(path=str(SHOTS / "17-auditor-entries.png"), full_page=True)
        await ctx.close()
        await browser.close()


async def test_an_officer_previews_and_publishes_a_programme_on_a_phone(live: Live, chromium: Path):
    """The programme form at 360 px: no sideways scrolling, the preview, the publication, and
    the issuance page with its scheduled runs (screenshots for review)."""
    from playwright.async_api import async_playwright

    base = live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(
            viewport={"width": 360, "height": 740}, locale="zh-CN", bypass_csp=True
        )
        page = await phone.new_page()
        await _sign_in(page, base, "officer")
        await page.goto(f"{base}/officer/programs/new")
        await page.fill("#name", "家庭养老床位")
        await page.fill("#code", "family_bed_phone")
        await page.fill("#face", "300")
        await page.fill("#ratio", "80")
        await page.click("button[value=preview]")
        await page.wait_for_selector("#preview")
        assert "符合条件" in await page.inner_text("#preview")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{width}px wide"
        await page.screenshot(path=str(SHOTS / "18-officer-programme-preview.png"), full_page=True)
        await page.fill("#reason", "青秀区民政局文件")
        await page.click("button[value=publish]")
        await page.wait_for_selector("text=已发布：家庭养老床位")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=str(SHOTS / "19-officer-programmes.png"), full_page=True)
        await page.goto(f"{base}/officer/issuance")
        assert "自动发放" in await page.inner_text("main")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=str(SHOTS / "20-officer-issuance.png"), full_page=True)
        await phone.close()
        await browser.close()


async def test_the_dashboard_on_a_phone_draws_its_charts_drills_down_and_passes_axe(
    live: Live, chromium: Path
):
    """The dashboard at 360 px for the province's finance reader: every chart and table
    (budget execution, providers, the care circle) readable without sideways scrolling, each
    table with its CSV and Excel links, a sub-region opened from its link and the way back;
    axe finds nothing serious on either page (screenshots for review)."""
    from playwright.async_api import async_playwright

    from tests.web.axe import serious_violations

    base = live.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(
            viewport={"width": 360, "height": 740}, locale="zh-CN", bypass_csp=True
        )
        page = await phone.new_page()
        await _sign_in(page, base, "finance")
        await page.goto(f"{base}/dashboard")
        text = await page.inner_text("main")
        assert "15分钟养老服务圈" in text and "预算执行（按项目和资金来源）" in text
        assert "服务机构（按类型和状态）" in text and "未知" not in text
        # enrolment (2), issuance and use, trend, budget, care circle, providers
        assert await page.locator("svg.chart").count() == 7
        assert await page.locator("a[href*='export.xlsx']").count() == 6
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        assert await serious_violations(page) == []
        await page.screenshot(path=str(SHOTS / "21-dashboard.png"), full_page=True)
        await page.click("a.btn[href*='region_code=450100']")
        await page.wait_for_selector("h2:has-text('南宁市')")
        assert await page.locator("svg.chart").count() >= 6
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        assert await serious_violations(page) == []
        await page.screenshot(path=str(SHOTS / "22-dashboard-city.png"), full_page=True)
        await page.go_back()
        await page.wait_for_selector("h2:has-text('广西')")
        await phone.close()
        await browser.close()
