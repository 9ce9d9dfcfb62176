"""The auditor's pages (issue 21): entries newest first and by account code, with who made
each redemption; CSV / XLSX downloads (formula-safe, made by the ledger); the signed
checkpoints; the journal file set, which the standalone verifier accepts. Chinese only."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile

from openpyxl import load_workbook

from tests.ledger.test_auditor_proof import run_verifier
from tests.web.test_pages import _confirm, _preview


async def _redeemed(web) -> None:
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "30")
        await _confirm(c, token, preview)
    await web.relay()


async def _signed(web) -> None:
    """Wait for the ledger's background checkpoint of its current head (every 0.5 s here)."""
    for _ in range(100):
        async with web.signed_in("auditor") as c:
            if 'id="checkpoints"' in (await c.get("/audit/chain")).text:
                return
        await asyncio.sleep(0.2)
    raise AssertionError("no checkpoint shown")


async def test_entries_newest_first_by_account_code_with_who_made_them(web):
    await _redeemed(web)
    async with web.signed_in("auditor") as c:
        html = (await c.get("/audit/entries")).text
        seqs = [int(x) for x in re.findall(r"<strong>#(\d+)</strong>", html)]
        assert seqs == sorted(seqs, reverse=True) and len(seqs) >= 2
        by_code = (await c.get("/audit/entries", params={"account_code": "2201"})).text
        assert "补贴核销" in by_code and "预算下达" not in by_code
        assert "操作员：staff1" in by_code and "账单 30.00 元" in by_code
        assert "科目代码" in by_code and "北京时间" in by_code
        bad = await c.get("/audit/entries", params={"account_code": "9999"})
        assert "这组查询条件不适用" in bad.text


async def test_downloads_are_the_ledgers_files(web):
    await _redeemed(web)
    async with web.signed_in("auditor") as c:
        csv_file = await c.get("/audit/entries.csv", params={"account_code": "2201"})
        assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith(
            "text/csv"
        )
        header = csv_file.content.decode("utf-8-sig").splitlines()[0]
        assert header.startswith("seq,entry_id") and "account_code" in header
        xlsx = await c.get("/audit/entries.xlsx")
        assert xlsx.status_code == 200
        assert load_workbook(io.BytesIO(xlsx.content)).active.max_row > 2
        tb = await c.get("/audit/trial-balance.xlsx")
        assert tb.status_code == 200 and load_workbook(io.BytesIO(tb.content)).active.max_row > 2
        tb_csv = await c.get("/audit/trial-balance.csv")
        assert tb_csv.status_code == 200 and "balance_fen" in tb_csv.text
        assert (await c.get("/audit/entries.pdf")).status_code == 404


async def test_checkpoints_and_the_journal_file_set_verify(web, tmp_path):
    await _redeemed(web)
    await _signed(web)
    async with web.signed_in("auditor") as c:
        chain = (await c.get("/audit/chain")).text
        assert "签名检查点" in chain and "签名公钥指纹" in chain and "定时签名" in chain
        z = await c.get("/audit/journal.zip")
        assert z.status_code == 200
        cp = await c.get("/audit/checkpoints.jsonl")
        assert cp.status_code == 200 and b'"type": "checkpoint"' in cp.content
    journal = tmp_path / "journal.zip"
    journal.write_bytes(z.content)
    with zipfile.ZipFile(journal) as zf:
        assert {"README.md", "schema.json", "accounts.csv", "entries.json"} <= set(zf.namelist())
    checkpoints = tmp_path / "checkpoints.jsonl"
    checkpoints.write_bytes(cp.content)
    done = run_verifier(str(journal), "--checkpoints", str(checkpoints))
    assert done.returncode == 0, done.stdout + done.stderr

    # A city's auditor may not take the whole book.
    async with web.signed_in("auditor_city") as c:
        refused = await c.get("/audit/journal.zip")
        assert refused.status_code == 403 and "范围" in refused.text
        chain = (await c.get("/audit/chain")).text
        assert "签名检查点" in chain and 'id="checkpoints"' not in chain
