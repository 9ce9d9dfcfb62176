"""The auditor's pages in a real browser (headless Chromium via Playwright) on a phone 360 px
wide (issue 21): the chain page shows the signed checkpoints and offers the journal file set,
which downloads and passes the standalone verifier; the entries page filters by account code,
newest first. Chinese only; nothing needs sideways scrolling. Screenshots go to
reports/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ledger.test_auditor_proof import run_verifier
from tests.web.test_browser import ARGS, SHOTS, Live, _sign_in, chromium, served_system

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}
__all__ = ["chromium"]


@pytest.fixture(scope="module")
async def live_audit(pg_admin_url, db_templates, tokens, tmp_path_factory) -> AsyncIterator[Live]:
    async with served_system(
        pg_admin_url, db_templates, tokens, tmp_path_factory.mktemp("audit")
    ) as running_system:
        yield running_system


async def _fits(page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"audit-{name}.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide"
    latin = await page.evaluate(
        "[...document.querySelectorAll('main h1, main h2, main label, main th')]"
        ".map(e => e.textContent.trim()).filter(t => /^[A-Za-z ]+$/.test(t))"
    )
    assert latin == [], f"{name}: untranslated labels {latin}"


async def test_auditor_checks_the_books_from_a_phone(
    live_audit: Live, chromium: Path, tmp_path: Path
):
    from playwright.async_api import async_playwright

    base = live_audit.base
    SHOTS.mkdir(parents=True, exist_ok=True)
    # A province-sized appropriation: its amount is long, and still fits a phone's width.
    s = live_audit.s
    r = await s.ledger.post(
        "/v1/appropriations",
        headers=s.tokens.headers("finance", sub="test:finance", region="450000"),
        json={
            "idempotency_key": "browser-audit:big",
            "program_code": "disability_subsidy",
            "region_code": "450100",
            "by_source": {"central": 123_456_789_012_345},
            "memo": "年度预算",
        },
    )
    assert r.status_code == 201, r.text
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=ARGS)
        ctx = await browser.new_context(
            viewport=PHONE, locale="zh-CN", bypass_csp=True, accept_downloads=True
        )
        page = await ctx.new_page()
        await _sign_in(page, base, "auditor")

        # The chain page: the signed checkpoints (the ledger signs every 0.5 s here).
        for _ in range(50):
            await page.goto(f"{base}/audit/chain")
            if await page.locator("#checkpoints").count():
                break
            await page.wait_for_timeout(200)
        assert await page.locator("#checkpoints tbody tr").count() >= 1
        assert "定时签名" in await page.inner_text("#checkpoints")
        assert len(await page.inner_text("#key-fingerprint")) == 16
        await page.click("#verify")
        await page.wait_for_selector("#chain-result")
        assert "账本完整" in await page.inner_text("#chain-result")
        await _fits(page, "01-chain-and-checkpoints")

        # The journal file set and the checkpoint file, downloaded and verified.
        async with page.expect_download() as got:
            await page.click("#journal-zip")
        journal = tmp_path / "journal.zip"
        await (await got.value).save_as(journal)
        async with page.expect_download() as got:
            await page.click("#checkpoints-file")
        checkpoints = tmp_path / "checkpoints.jsonl"
        await (await got.value).save_as(checkpoints)
        done = run_verifier(str(journal), "--checkpoints", str(checkpoints))
        assert done.returncode == 0, done.stdout + done.stderr

        # Entries by account code (1001 treasury cash: the appropriations), newest first.
        await page.goto(f"{base}/audit/entries")
        await page.select_option("#f-account_code", label="1001 国库资金")  # chosen by name
        await page.click("main button[type=submit]")
        await page.wait_for_load_state("networkidle")
        text = await page.inner_text("main")
        assert "预算下达" in text and "补贴核销" not in text
        # each entry's postings under headings, the side in words
        assert "借 / 贷（元）" in text and "借 1,234,567,890,123.45" in text
        seqs = [int(x) for x in re.findall(r"#(\d+)", text)]
        assert seqs and seqs == sorted(seqs, reverse=True)
        assert await page.get_attribute("#entries-xlsx", "href") == (
            "/audit/entries.xlsx?account_code=1001"
        )
        await _fits(page, "02-entries-by-code")

        await page.goto(f"{base}/audit/trial-balance")
        assert "借贷平衡" in await page.inner_text("main")
        async with page.expect_download() as got:
            await page.click("#tb-xlsx")
        assert (await got.value).suggested_filename == "trial-balance.xlsx"
        await _fits(page, "03-trial-balance")
        await ctx.close()
        await browser.close()
