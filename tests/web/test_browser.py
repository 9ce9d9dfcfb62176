"""The walk in a real browser: headless Chromium (Debian's) driven by Playwright.

A beneficiary signs in on a phone-sized screen and shows the QR code, which refreshes by
itself; a provider's staff scans it with the camera (Chromium's fake camera plays a video of
that very code, decoded by the vendored jsQR), enters the bill and redeems; finance reads the
trial balance; an auditor verifies the ledger's hash chain. Screenshots go to
reports/screenshots/. The web app runs under uvicorn on a free port in this event loop, so it
can reach the in-process services of the `web` fixture.
"""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import pytest
import segno
import uvicorn

from scripts.ensure_browser import BrowserUnavailable, ensure_browser
from tests.ledger.conftest import redemption
from tests.web.conftest import B1, PASSWORD, WebEnv
from web.config import WebSettings
from web.main import create_app

pytestmark = pytest.mark.browser
# Playwright evaluates its wait predicates with eval, which our CSP (script-src 'self')
# forbids; contexts bypass CSP for that only. The page scripts themselves are same-origin files.
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def chromium() -> Path:
    try:
        return ensure_browser()
    except BrowserUnavailable as exc:  # loud: the reason is in the skip message
        pytest.skip(f"BROWSER TESTS SKIPPED — cannot install Chromium/Playwright: {exc}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def live(web: WebEnv, accounts_file):
    # Refresh 58 s before expiry: the 60 s code is replaced within seconds, so the test
    # sees the page fetch a new code without waiting a minute.
    app = create_app(WebSettings(accounts_file=accounts_file, qr_refresh_margin_s=57),
                     transports=web.app.state.web.transports)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _y4m_of_qr(text: str, path: Path) -> None:
    """A short 4:2:0 video whose every frame shows the QR code (for the fake camera)."""
    from PIL import Image

    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=6, border=4)
    qr = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    w, h = 640, 480
    frame = Image.new("L", (w, h), 255)
    side = min(400, qr.size[0])
    frame.paste(qr.resize((side, side), Image.NEAREST), ((w - side) // 2, (h - side) // 2))
    y = frame.tobytes()
    uv = bytes([128]) * (w // 2 * h // 2)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(5):
            f.write(b"FRAME\n" + y + uv + uv)


async def _sign_in(page, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")


async def test_walk_qr_redeem_finance_audit(web: WebEnv, live: str, chromium: Path,
                                           tmp_path: Path):
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    r = await web.ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert r.status_code == 201
    await web.ledger.commit(100_000)
    await web.ledger.events([redemption(1500)])

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(viewport={"width": 412, "height": 860},
                                          device_scale_factor=1, locale="zh-CN",
                                          bypass_csp=True)
        page = await phone.new_page()
        await _sign_in(page, live, "laowang")
        assert "420.50" in await page.inner_text("main")
        font_px = await page.evaluate(
            "parseFloat(getComputedStyle(document.body).fontSize)")
        assert font_px >= 18
        button_h = await page.evaluate(
            "document.querySelector('.btn-main').getBoundingClientRect().height")
        assert button_h >= 48
        await page.screenshot(path=str(SHOTS / "01-beneficiary-home.png"), full_page=True)

        await page.click("text=出示付款码")
        await page.wait_for_selector("#qr[data-ready='1']")
        first = await page.get_attribute("#qr-img", "src")
        await page.wait_for_function(
            "document.getElementById('qr-img').naturalWidth > 0")
        await page.screenshot(path=str(SHOTS / "02-beneficiary-qr.png"), full_page=True)
        # The page replaces the code by itself before it expires.
        await page.wait_for_function(
            f"document.getElementById('qr-img').getAttribute('src') !== {first!r}",
            timeout=15_000)
        token = list(web.voucher.state.codes)[-1]  # the code now on screen
        await phone.close()
        await browser.close()

        video = tmp_path / "qr.y4m"
        _y4m_of_qr(token, video)
        browser = await pw.chromium.launch(
            executable_path=str(chromium),
            args=[*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={video}"])
        ctx = await browser.new_context(viewport={"width": 800, "height": 1000},
                                        locale="zh-CN", bypass_csp=True)
        await ctx.grant_permissions(["camera"], origin=live)
        page = await ctx.new_page()
        await _sign_in(page, live, "staff1")
        await page.click("#scan-start")
        await page.wait_for_function(
            f"document.getElementById('token').value === {token!r}", timeout=20_000)
        await page.select_option("#service_code", "MEAL_LUNCH")
        await page.fill("#gross_yuan", "15")
        await page.screenshot(path=str(SHOTS / "03-provider-redeem.png"), full_page=True)
        await page.click("text=下一步：核对")
        await page.wait_for_selector("#confirm")
        await page.screenshot(path=str(SHOTS / "04-provider-confirm.png"), full_page=True)
        await page.click("#confirm")
        await page.wait_for_selector("#subsidy")
        assert await page.inner_text("#subsidy") == "12.00"
        assert await page.inner_text("#copay") == "3.00"
        await page.screenshot(path=str(SHOTS / "05-provider-result.png"), full_page=True)
        await ctx.close()
        assert web.vouchers[B1][0]["balance_fen"] == 42050 - 1200

        ctx = await browser.new_context(viewport={"width": 1000, "height": 900},
                                        locale="zh-CN", bypass_csp=True)
        page = await ctx.new_page()
        await _sign_in(page, live, "finance")
        assert "借贷平衡" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "06-finance-trial-balance.png"),
                              full_page=True)
        await page.click("#logout")
        await page.wait_for_url(f"{live}/login")

        await _sign_in(page, live, "auditor")
        await page.goto(f"{live}/audit/chain")
        await page.click("#verify")
        await page.wait_for_selector("#chain-result")
        assert "账本完整" in await page.inner_text("#chain-result")
        assert await page.inner_text("#entries-checked") == "3"
        await page.screenshot(path=str(SHOTS / "07-auditor-chain.png"), full_page=True)
        await ctx.close()
        await browser.close()


async def test_proxy_and_back_office_pages_render_in_the_browser(web: WebEnv, live: str,
                                                                  chromium: Path):
    """A proxy switches person on a phone; officer, finance and auditor pages render with
    their charts and tables (screenshots for review)."""
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    await web.ledger.appropriate({"central": 950_000, "regional": 50_000}, region="450103")
    await web.ledger.commit(100_000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(viewport={"width": 390, "height": 844},
                                          locale="zh-CN", bypass_csp=True)
        page = await phone.new_page()
        await _sign_in(page, live, "xiaoli")
        assert "420.50" in await page.inner_text("main")
        await page.select_option("#beneficiary_id", index=1)
        await page.click("text=切换")
        await page.wait_for_selector("text=已切换服务对象")
        assert "7.00" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "08-proxy-switched.png"), full_page=True)
        await phone.close()

        ctx = await browser.new_context(viewport={"width": 1000, "height": 900},
                                        locale="zh-CN", bypass_csp=True)
        page = await ctx.new_page()
        await _sign_in(page, live, "officer")
        await page.fill("#national_id", "123")
        await page.screenshot(path=str(SHOTS / "09-officer-enrol.png"), full_page=True)
        await page.click("#logout")
        await _sign_in(page, live, "finance")
        await page.goto(f"{live}/finance/budget?region_code=450103")
        assert await page.locator("svg.chart rect").count() == 3
        await page.screenshot(path=str(SHOTS / "10-finance-budget.png"), full_page=True)
        await page.click("#logout")
        await _sign_in(page, live, "auditor")
        assert await page.locator(".entry").count() == 2
        await page.screenshot(path=str(SHOTS / "11-auditor-entries.png"), full_page=True)
        await ctx.close()
        await browser.close()
