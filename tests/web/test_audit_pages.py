"""The auditor's pages (issue 21): entries newest first and by account code, with who made
each redemption; CSV / XLSX downloads (formula-safe, made by the ledger); the signed
checkpoints; the journal file set, which the standalone verifier accepts. Chinese only."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
import sys
import uuid
import zipfile
from decimal import Decimal

from openpyxl import load_workbook

from tests.ledger.test_auditor_proof import VERIFIER, run_verifier
from tests.web.system import CITY, PROVINCE
from tests.web.test_pages import _confirm, _preview


async def _redeemed(web) -> None:
    async with web.signed_in("staff1") as c:
        token, preview = await _preview(web, c, "30")
        await _confirm(c, token, preview)
    await web.relay()


def _run_in(folder, *args: str) -> subprocess.CompletedProcess[str]:
    """Python run as the auditor would, in the folder of the downloaded files."""
    return subprocess.run(
        [sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=60
    )


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
        # the filters are chosen by name: accounts, programmes and regions are lists
        assert re.search(r'<option value="2201"\s+selected>2201 应付服务机构款</option>', by_code)
        assert '<option value="disability_subsidy">失能老年人养老服务消费补贴</option>' in html
        assert re.search(r'<select id="region_code" name="region_code">', html)
        assert "青秀区" in html
        by_programme = (
            await c.get("/audit/entries", params={"program_code": "meal_assistance"})
        ).text
        assert re.search(r'<option value="meal_assistance"\s+selected>', by_programme)


async def test_downloads_say_what_the_ledger_holds_in_chinese_and_yuan(web):
    """The auditor's entries and trial balance files: Chinese headings, amounts in 元 that
    are the ledger's fen to the fen (numbers in Excel), codes in words, a BOM for Excel."""
    await _redeemed(web)
    auditor = web.tokens.headers("auditor", sub="test:auditor", region=PROVINCE)
    ledger = (
        await web.ledger.get(
            "/v1/entries", params={"account_code": "2201", "limit": 500}, headers=auditor
        )
    ).json()["entries"]
    async with web.signed_in("auditor") as c:
        f = await c.get("/audit/entries.csv", params={"account_code": "2201"})
        assert f.status_code == 200 and f.headers["content-type"].startswith("text/csv")
        assert f.content.startswith("\ufeff".encode())  # Excel on Windows reads the Chinese
        rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
        assert list(rows[0])[:4] == ["序号", "分账簿", "类型", "记账时间（北京时间）"]
        postings = [(e, p) for e in ledger for p in e["postings"]]
        assert len(rows) == len(postings)
        for row, (e, p) in zip(rows, postings, strict=True):
            assert row["分录编号"] == e["id"] and row["科目代码"] == p["account"]
            debit, credit = Decimal(row["借方（元）"]), Decimal(row["贷方（元）"])
            assert (debit - credit) * 100 == p["amount_fen"]
        sale = next(r for r in rows if r["类型"] == "补贴核销" and r["科目代码"] == "2201")
        assert sale["科目名称"] == "应付服务机构款" and sale["操作员"] == "staff1"
        assert not any(re.search(r"[A-Za-z]{4,}", r["类型"] + r["科目名称"]) for r in rows)

        x = await c.get("/audit/entries.xlsx", params={"account_code": "2201"})
        sheet = load_workbook(io.BytesIO(x.content)).active
        headings = [cell.value for cell in sheet[1]]
        amount = sheet.cell(2, headings.index("借方（元）") + 1)
        assert isinstance(amount.value, (int, float)) and amount.number_format == "#,##0.00"

        tb_json = (await web.ledger.get("/v1/trial-balance", headers=auditor)).json()
        tb = await c.get("/audit/trial-balance.csv")
        tb_rows = list(csv.DictReader(io.StringIO(tb.content.decode("utf-8-sig"))))
        total = tb_rows[-1]
        assert total["科目名称"] == "合计"
        assert Decimal(total["借方（元）"]) * 100 == tb_json["total_debit_fen"]
        assert total["借方（元）"] == total["贷方（元）"]
        assert len(tb_rows) == len(tb_json["accounts"]) + 1
        assert {r["科目类别"] for r in tb_rows[:-1]} <= {
            "资产类",
            "负债类",
            "净资产类",
            "收入类",
            "费用类",
        }
        assert (await c.get("/audit/entries.pdf")).status_code == 404


async def test_the_entries_file_names_a_programme_made_as_data_by_its_published_name(web):
    """A city's own programme has no word in the web's labels: its entries' 补贴项目 is the
    name its officers published, never 未知（code）."""
    from tests.voucher.data.test_programs_api import BED

    code = f"bed_{uuid.uuid4().hex[:6]}"
    r = await web.voucher.post(
        "/v1/programs",
        headers=web.officer(CITY),
        json={"code": code, "region_code": CITY, "config": BED, "reason": "市政府决定"},
    )
    assert r.status_code == 201, r.text
    finance = web.tokens.headers("finance", sub="test:finance", region=PROVINCE)
    r = await web.ledger.post(
        "/v1/appropriations",
        headers=finance,
        json={
            "idempotency_key": f"web-test:{code}",
            "program_code": code,
            "region_code": CITY,
            "by_source": dict.fromkeys(BED["funding_shares"], 100_000),
            "memo": "测试预算",
        },
    )
    assert r.status_code == 201, r.text
    async with web.signed_in("auditor") as c:
        for fmt in ("csv", "xlsx"):
            f = await c.get(f"/audit/entries.{fmt}", params={"program_code": code})
            assert f.status_code == 200, f.text
            if fmt == "csv":
                rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
                named = [row["补贴项目"] for row in rows]
            else:
                sheet = load_workbook(io.BytesIO(f.content)).active
                column = [cell.value for cell in sheet[1]].index("补贴项目")
                named = [row[column] for row in sheet.iter_rows(min_row=2, values_only=True)]
            assert named and set(named) == {"家庭养老床位"}, (fmt, named)


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

    # everything the auditor's own check needs comes from the page: the program, the key and
    # the command; the downloaded program run with the page's key on the files says OK
    key = re.search(r'id="public-key">([0-9a-f]{64})<', chain).group(1)
    command = re.search(r'id="verify-command">([^<]+)<', chain).group(1)
    assert command == (
        f"python3 verify_ledger.py journal.zip --checkpoints checkpoints.jsonl --trust {key}"
    )
    async with web.signed_in("auditor") as c:
        program = await c.get("/audit/verify_ledger.py")
    assert program.status_code == 200 and program.content == VERIFIER.read_bytes()
    (tmp_path / "verify_ledger.py").write_bytes(program.content)
    ran = _run_in(tmp_path, *command.split()[1:])
    assert ran.returncode == 0 and "OK" in ran.stdout, ran.stdout + ran.stderr
    wrong = "ab" * 32  # another key: the signatures are not the trusted one's
    ran = _run_in(
        tmp_path, "verify_ledger.py", "journal.zip", "--checkpoints", "checkpoints.jsonl",
        "--trust", wrong,
    )  # fmt: skip
    assert ran.returncode != 0
    async with web.signed_in("finance") as c:
        assert (await c.get("/audit/verify_ledger.py")).status_code == 403

    # A city's auditor may not take the whole book.
    async with web.signed_in("auditor_city") as c:
        refused = await c.get("/audit/journal.zip")
        assert refused.status_code == 403 and "范围" in refused.text
        chain = (await c.get("/audit/chain")).text
        assert "签名检查点" in chain and 'id="checkpoints"' not in chain
