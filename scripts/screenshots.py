"""Screenshots of the main pages for docs/screenshots/ (referenced by docs/pages.md), taken
from a running demo (`python3 dev.py up --demo`) in headless Chromium on a 360×640 phone.

    python3 dev.py up --demo                    # in one terminal
    .venv/bin/python scripts/screenshots.py     # in another (YIYANG_WEB_URL says where)

The walk: the elder's vouchers and payment code; the family member's page for the person
they act for; the cashier reads that very code (decoded from the screen with the vendored
jsQR, as the camera would), bills a lunch, checks subsidy and co-payment, confirms (this
moves one meal's subsidy in the demo, like a real sale); the officer's approval list (with
the demo's applications waiting); finance's trial balance and budget. Officers and finance
sign in with their current TOTP code, read from the web's database as `yiyang web totp`
does (development only). Needs Chromium and Playwright (scripts/ensure_tools.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.ensure_tools import ensure_browser  # noqa: E402

PASSWORD = "yiyang2026"
PHONE = {"width": 360, "height": 640}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
JSQR = ROOT / "web" / "static" / "vendor" / "jsQR.js"


async def _sign_in(page: Any, base: str, username: str) -> None:
    from web.manage import current_code
    from web.roles import TOTP_ROLES

    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    if page.url.endswith("/login/code"):
        now, _next, left = await current_code(username)
        if left < 3:  # about to change: wait for the next step's code
            await asyncio.sleep(left + 1)
            now, _next, _ = await current_code(username)
        await page.fill("#code", now)
        await page.click("text=确认登录")
        await page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"{username} could not sign in ({TOTP_ROLES})"


async def _shot(page: Any, out: Path, name: str, full: bool = False) -> None:
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full)
    print(f"[screenshots] {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


async def _read_qr(page: Any) -> str:
    await page.add_script_tag(path=str(JSQR))
    text: str | None = await page.evaluate("""() => {
        const img = document.getElementById('qr-img');
        const c = document.createElement('canvas');
        c.width = 640; c.height = 640;
        const g = c.getContext('2d');
        g.fillStyle = '#fff'; g.fillRect(0, 0, 640, 640);
        g.drawImage(img, 0, 0, 640, 640);
        const code = jsQR(g.getImageData(0, 0, 640, 640).data, 640, 640);
        return code ? code.data : null;
    }""")
    if not text:
        raise RuntimeError("the payment code on screen could not be read")
    return text


async def take(base: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(ensure_browser()), args=ARGS)

        async def context() -> Any:
            return await browser.new_context(
                viewport=PHONE, device_scale_factor=1, locale="zh-CN", bypass_csp=True
            )

        # the elder
        ctx = await context()
        page = await ctx.new_page()
        await _sign_in(page, base, "laoren")
        await _shot(page, out, "elder-vouchers", full=True)
        await page.goto(f"{base}/me/qr")
        await page.wait_for_selector("#qr[data-ready='1']")
        await page.wait_for_function("document.getElementById('qr-img').naturalWidth > 0")
        await _shot(page, out, "elder-payment-code")
        token = await _read_qr(page)
        await page.goto(f"{base}/me/history")
        await _shot(page, out, "elder-history", full=True)
        await ctx.close()

        # the family member, acting for one of two people
        ctx = await context()
        page = await ctx.new_page()
        await _sign_in(page, base, "jiashu")
        await _shot(page, out, "family-vouchers", full=True)
        await ctx.close()

        # the cashier: the code just shown, one lunch
        ctx = await context()
        page = await ctx.new_page()
        await _sign_in(page, base, "shouyin")
        await page.fill("#token", token)
        await page.locator(".bill-item", has_text="午餐").locator("input.bill-qty").fill("1")
        await _shot(page, out, "cashier-bill", full=True)
        await page.click("text=下一步：核对")
        await page.wait_for_load_state("networkidle")
        await _shot(page, out, "cashier-confirm", full=True)
        if await page.locator("#confirm").count():
            await page.click("#confirm")
            await page.wait_for_load_state("networkidle")
            await _shot(page, out, "cashier-result", full=True)
        await ctx.close()

        # the officer: applications waiting for approval
        ctx = await context()
        page = await ctx.new_page()
        await _sign_in(page, base, "minzheng")
        await page.goto(f"{base}/officer/providers?status=applied")
        await _shot(page, out, "officer-approvals", full=True)
        await page.goto(f"{base}/officer/issuance")
        await _shot(page, out, "officer-issuance", full=True)
        await ctx.close()

        # finance: the trial balance grouped by class, the budget's execution
        ctx = await context()
        page = await ctx.new_page()
        await _sign_in(page, base, "caiwu")
        await _shot(page, out, "finance-trial-balance", full=True)
        await page.goto(f"{base}/finance/budget")
        await _shot(page, out, "finance-budget", full=True)
        await ctx.close()
        await browser.close()


def main(argv: list[str] | None = None) -> int:
    from services.common.settings import get_common_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=get_common_settings().web_url, help="the web app")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(take(args.base.rstrip("/"), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
