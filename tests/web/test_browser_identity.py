"""Two-factor sign-in in a real browser (headless Chromium via Playwright) on a phone 360 px
wide: an account administrator signs in for the first time, is sent to the enrolment page
and can do nothing else, reads the QR code off the screen (decoded with the vendored jsQR,
exactly what an authenticator app scans), confirms with a first code, sees the ten recovery
codes, reaches the account list; signs out and in again with the password and the app's
next code. Every page fits the screen and every control is big enough to press.
Screenshots go to reports/screenshots/."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from scripts.ensure_tools import ensure_browser
from services.common.migrate import drop_database
from services.common.settings import CommonSettings
from tests.conftest import require_tool
from tests.fixtures import database as dbfix
from tests.web.browser_kit import JSQR, Served
from tests.web.system import CITY, PASSWORD, add_accounts
from web.config import WebSettings
from web.main import create_app
from web.service import totp

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_tool(ensure_browser)


@pytest.fixture(scope="module")
async def served_web(pg_admin_url: str, db_templates: dict[str, str]) -> AsyncIterator[str]:
    """The web app (two-factor sign-in on) served by uvicorn on its own database."""
    db = await dbfix.fresh_database(pg_admin_url, db_templates["web"], "web")
    await add_accounts(
        db.app_url,
        [
            {
                "username": "guanli",
                "role": "admin",
                "display_name": "南宁市账号管理员",
                "region": CITY,
            }
        ],
    )
    app = create_app(
        WebSettings(database_url=db.app_url, totp_required=True),
        common=CommonSettings(),
    )
    served = Served()
    try:
        async with app.router.lifespan_context(app):
            yield await served.serve(app)
            await served.stop()
    finally:
        await drop_database(pg_admin_url, db.name)


async def _fits_a_phone(page, name: str) -> None:
    """No sideways scrolling at 360 px, every control at least 44 px tall; a screenshot."""
    await page.screenshot(path=str(SHOTS / f"identity-{name}.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide"
    small = await page.evaluate("""() => [...document.querySelectorAll(
            'main button, main input:not([type=hidden]), main select, main a.btn, ' +
            'main a.row-link, header a, header button, nav a')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.tagName + ' ' + (e.id || e.textContent.trim().slice(0, 8)),
                   Math.round(e.getBoundingClientRect().height)])
        .filter(([, h]) => h < 44)""")
    assert small == [], f"{name}: controls under 44 px: {small}"


async def _read_totp_qr(page) -> str:
    await page.add_script_tag(path=str(JSQR))
    return await page.evaluate("""() => {
        const img = document.getElementById('totp-qr');
        const c = document.createElement('canvas');
        c.width = 600; c.height = 600;
        const g = c.getContext('2d');
        g.fillStyle = '#fff'; g.fillRect(0, 0, 600, 600);
        g.drawImage(img, 0, 0, 600, 600);
        const code = jsQR(g.getImageData(0, 0, 600, 600).data, 600, 600);
        return code ? code.data : null;
    }""")


async def test_first_sign_in_enrols_then_signs_in_with_a_code_on_a_phone(served_web, chromium):
    from playwright.async_api import async_playwright

    base = served_web
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        phone = await browser.new_context(
            viewport=PHONE, device_scale_factor=1, locale="zh-CN", bypass_csp=True
        )
        page = await phone.new_page()
        await page.goto(f"{base}/login")
        await _fits_a_phone(page, "01-login")
        await page.fill("#username", "guanli")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/account/totp")
        assert "开通两步验证" in await page.inner_text("main")
        await page.wait_for_function("document.getElementById('totp-qr').naturalWidth > 0")
        await _fits_a_phone(page, "02-enrol")
        # nothing else opens before enrolment
        await page.goto(f"{base}/admin/users")
        assert page.url == f"{base}/account/totp"

        uri = await _read_totp_qr(page)
        assert uri and uri.startswith("otpauth://totp/")
        query = parse_qs(urlsplit(uri).query)
        secret = query["secret"][0]
        assert query["issuer"] == ["颐养"] and "guanli" in urlsplit(uri).path
        shown = (await page.inner_text("#totp-secret")).replace(" ", "")
        assert shown == secret
        await page.fill("#code", totp.code_at(secret, time.time()))
        await page.click("text=确认开通")
        await page.wait_for_selector("#recovery-codes")
        codes = await page.locator("#recovery-codes li").all_inner_texts()
        assert len(codes) == 10
        await _fits_a_phone(page, "03-recovery-codes")
        await page.click("text=我已保存好，继续")
        await page.wait_for_url(f"{base}/admin/users")
        assert "南宁市账号管理员" in await page.inner_text("header")
        await _fits_a_phone(page, "04-admin-users")

        await page.click("#logout")
        await page.wait_for_url(f"{base}/login")
        await page.fill("#username", "guanli")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/login/code")
        await _fits_a_phone(page, "05-code")
        # The enrolment's code cannot be used again: the app's next one (30 s ahead) is.
        await page.fill("#code", totp.code_at(secret, time.time() + totp.STEP_S))
        await page.click("text=确认登录")
        await page.wait_for_url(f"{base}/admin/users")
        await page.goto(f"{base}/admin/users/new")
        await _fits_a_phone(page, "06-admin-new")
        await page.goto(f"{base}/account")
        await _fits_a_phone(page, "07-account")
        await browser.close()
