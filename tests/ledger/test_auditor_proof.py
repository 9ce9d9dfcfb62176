"""The auditor's independent proof (issue 21): an export made through the API carries every
field the hash covers, and the standalone verifier (audit/verify_ledger.py, run as a
separate process, standard library only for the chain) recomputes the chain from it."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from services.common.keys import ed25519_pair
from services.ledger.config import LedgerSettings
from services.ledger.service import books, checkpoints, hashing
from tests.conftest import running
from tests.fixtures.voucher_programs import ledger_app
from tests.ledger.conftest import Ledger, redemption, void

VERIFIER = Path(__file__).resolve().parents[2] / "audit" / "verify_ledger.py"


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFIER), *args], capture_output=True, text=True, timeout=60
    )


async def export(ledger, **params: Any) -> list[dict[str, Any]]:
    """Every entry, page by page, as an auditor's script would fetch them."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = {"limit": 3, **params, **({"cursor": cursor} if cursor else {})}
        r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params=q)
        assert r.status_code == 200, r.text
        page = r.json()
        out.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


async def book(ledger) -> None:
    r = await ledger.c.post(
        "/v1/appropriations",
        headers=ledger.finance,
        json={
            "idempotency_key": "appr:auditor-1",
            "program_code": "disability_subsidy",
            "region_code": "450100",
            "by_source": {"central": 950_000, "regional": 50_000},
            "memo": '2026年预算 "拨款" \\ 第一批',
        },
    )
    assert r.status_code == 201, r.text
    assert (await ledger.commit(100_000)).status_code == 201
    reds = [redemption(1000 + i) for i in range(4)]
    await ledger.events([*reds, void(reds[1])])


async def test_the_export_carries_every_hashed_field(ledger):
    await book(ledger)
    entries = await export(ledger)
    assert [e["seq"] for e in entries] == list(range(1, 9))
    for e in entries:
        assert set(hashing.ENTRY_FIELDS) | {"prev_hash", "hash"} <= set(e)
        for p in e["postings"]:
            assert set(hashing.POSTING_FIELDS) | {"entry_id"} <= set(p)
            assert p["entry_id"] == e["id"] and p["seq"] == e["seq"]
        assert e["posted_at"].endswith("+08:00")
    assert entries[0]["prev_hash"] == "00" * 32
    one = await ledger.c.get(f"/v1/entries/{entries[2]['id']}", headers=ledger.auditor)
    assert one.json() == entries[2]


async def test_the_verifier_recomputes_the_chain_from_an_api_export(ledger, tmp_path):
    await book(ledger)
    entries = await export(ledger)
    f = tmp_path / "export.json"
    f.write_text(json.dumps({"entries": entries}, ensure_ascii=False), encoding="utf-8")
    ok = run_verifier(str(f))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"head seq 8 hash {entries[-1]['hash']}" in ok.stdout

    # an entry left out of the file: named, unless the export is said to be filtered
    without = [e for e in entries if e["seq"] != 3]
    f.write_text(json.dumps({"entries": without}), encoding="utf-8")
    gap = run_verifier(str(f))
    assert gap.returncode == 1 and f"entry {entries[3]['id']} (seq 4)" in gap.stdout
    assert run_verifier(str(f), "--partial").returncode == 0
    filtered = await export(ledger, account_code="2201")
    f.write_text(json.dumps({"entries": filtered}), encoding="utf-8")
    assert run_verifier(str(f), "--partial").returncode == 0

    # one amount altered in the file: the verifier names that entry
    entries[4]["postings"][0]["amount_fen"] += 1
    f.write_text(json.dumps({"entries": entries}, ensure_ascii=False), encoding="utf-8")
    bad = run_verifier(str(f))
    assert bad.returncode == 1
    assert f"entry {entries[4]['id']} (seq 5)" in bad.stdout


async def test_the_verifier_reads_pages_as_json_lines(ledger, tmp_path):
    await book(ledger)
    entries = await export(ledger)
    f = tmp_path / "export.jsonl"
    f.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in entries), encoding="utf-8")
    assert run_verifier(str(f)).returncode == 0
    entries[0]["memo"] = "2026年预算"
    f.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in entries), encoding="utf-8")
    bad = run_verifier(str(f))
    assert bad.returncode == 1 and f"entry {entries[0]['id']} (seq 1)" in bad.stdout


def _verifier_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("verify_ledger", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_worked_example_in_the_docs_hashes_as_stated():
    """docs/ledger.md's example (a real entry, tests/ledger/canonical_example.json): its
    canonical bytes are the ones printed there and hash to the stated value, by the verifier's
    rules and by the service's own (service/hashing.py)."""
    root = Path(__file__).resolve().parents[2]
    e = json.loads((Path(__file__).parent / "canonical_example.json").read_text("utf-8"))
    doc = (root / "docs" / "ledger.md").read_text("utf-8")
    printed = doc.split("`C` is these 1,542 bytes (one line):\n\n```\n")[1].split("\n```")[0]
    v = _verifier_module()
    c = v.canonical(e)
    assert c == printed.encode() and len(c) == 1542
    assert hashlib.sha256(bytes(32) + c).hexdigest() == e["hash"] and e["hash"] in doc
    from datetime import datetime

    rows = dict(e, posted_at=datetime.fromisoformat(e["posted_at"]))
    postings = [
        dict(p, account_id=int(p["account_id"]), posted_at=rows["posted_at"]) for p in e["postings"]
    ]
    assert hashing.canonical(rows, postings) == c


async def test_entries_made_from_another_services_events_cannot_be_reversed_by_hand(ledger):
    await book(ledger)
    reds = [redemption(700)]
    await ledger.events([*reds, void(reds[0])])
    for kind in ("redemption", "redemption_void", "commitment"):
        entry_id = await ledger.fetchval(
            "SELECT id::text FROM entry WHERE kind = $1 ORDER BY seq LIMIT 1", kind
        )
        before = await ledger.snapshot()
        r = await ledger.c.post(
            f"/v1/entries/{entry_id}/reverse",
            headers=ledger.checker,
            json={"idempotency_key": f"rev-{kind}", "reason": "不应允许"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == {
            "code": "ENTRY_NOT_REVERSIBLE",
            "message": r.json()["error"]["message"],
            "field": "entry_id",
        }
        after = await ledger.snapshot()
        assert {k: v for k, v in after.items() if k != "keys"} == {
            k: v for k, v in before.items() if k != "keys"
        }


async def test_a_manual_entry_is_reversed_by_another_officer_only(ledger):
    appr = (await ledger.appropriate({"central": 1_000})).json()["entry_id"]
    url = f"/v1/entries/{appr}/reverse"
    before = await ledger.snapshot()
    own = await ledger.c.post(
        url, headers=ledger.finance, json={"idempotency_key": "rev-own", "reason": "录错"}
    )
    assert own.status_code == 403 and own.json()["error"]["code"] == "REVERSAL_BY_MAKER"
    assert await ledger.snapshot() == before
    other = await ledger.c.post(
        url, headers=ledger.checker, json={"idempotency_key": "rev-own", "reason": "录错"}
    )
    assert other.status_code == 201, other.text


# --- signed checkpoints outside the database -------------------------------------------------


def _plain_row(row: Any) -> dict[str, Any]:
    d = dict(row)
    if isinstance(d.get("details"), str):  # asyncpg hands jsonb over as text
        d["details"] = json.loads(d["details"])
    for k in ("currency", "period"):
        if isinstance(d.get(k), str):
            d[k] = d[k].strip()
    return d


async def rewrite_consistently(ledger, seq: int, delta: int) -> None:
    """What a superuser could do inside the database: move `delta` fen between the first two
    postings of entry `seq` (still balanced), fix the balances, recompute every hash from
    there on, move the head and re-chain the root's anchors over the new hashes: the
    service's own check finds nothing wrong. (One book: every entry of `book` is in 4501.)"""
    conn = await ledger.owner()
    try:
        await conn.execute("SET session_replication_role = replica")  # triggers off
        async with conn.transaction():
            target = await conn.fetchval("SELECT id FROM entry WHERE seq = $1", seq)
            for line, d in ((1, delta), (2, -delta)):
                account = await conn.fetchval(
                    "UPDATE posting SET amount_fen = amount_fen + $3 "
                    "WHERE entry_id = $1 AND line = $2 RETURNING account_id",
                    target,
                    line,
                    d,
                )
                await conn.execute(
                    "UPDATE account SET balance_fen = balance_fen + $2 WHERE id = $1", account, d
                )
            prev = bytes(await conn.fetchval("SELECT hash FROM entry WHERE seq = $1", seq - 1))
            for row in await conn.fetch("SELECT * FROM entry WHERE seq >= $1 ORDER BY seq", seq):
                lines = await conn.fetch(
                    "SELECT * FROM posting WHERE entry_id = $1 ORDER BY line", row["id"]
                )
                h = hashing.entry_hash(prev, _plain_row(row), [_plain_row(p) for p in lines])
                await conn.execute(
                    "UPDATE entry SET prev_hash = $2, hash = $3 WHERE id = $1", row["id"], prev, h
                )
                prev = h
            await conn.execute("UPDATE book_head SET last_hash = $1 WHERE book = '4501'", prev)
            hashes = {
                (r["book"], r["seq"]): bytes(r["hash"])
                for r in await conn.fetch("SELECT book, seq, hash FROM entry")
            }
            root = hashing.GENESIS_HASH
            for a in await conn.fetch("SELECT * FROM root_anchor ORDER BY seq"):
                heads = [
                    books.BookHeadState(h["book"], h["seq"], hashes[(h["book"], h["seq"])])
                    for h in json.loads(a["heads"])
                ]
                at = hashing.utc_text(a["anchored_at"])
                new = books.anchor_hash(root, a["seq"], at, heads)
                doc = [{"book": h.book, "seq": h.seq, "hash": h.hash.hex()} for h in heads]
                await conn.execute(
                    "UPDATE root_anchor SET heads = $2::jsonb, prev_hash = $3, hash = $4 "
                    "WHERE seq = $1",
                    a["seq"],
                    json.dumps(doc),
                    root,
                    new,
                )
                root = new
    finally:
        await conn.close()


@pytest.fixture
async def signing(make_db, tokens, tmp_path):
    """A ledger that signs its head every 50 ms into tmp_path/checkpoints.jsonl."""
    sdb = await make_db("ledger")
    settings = LedgerSettings(
        database_url=sdb.app_url,
        pool_size=4,
        checkpoint_file=tmp_path / "checkpoints.jsonl",
        checkpoint_interval_s=0.05,
    )
    app = ledger_app(settings)
    async with running(app) as client:
        lg = Ledger(client, sdb, tokens)
        lg.app = app
        yield lg, settings


def _book_seqs(record: dict[str, Any]) -> set[int]:
    """The book seqs a checkpoint signs: the root's anchor carries every book's head."""
    return {h["seq"] for h in record.get("heads", [])}


async def _signed_up_to(settings, seq: int) -> None:
    for _ in range(400):
        if any(seq in _book_seqs(r) for r in checkpoints.read_records(settings)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no checkpoint of seq {seq}")


async def test_checkpoints_catch_a_consistent_rewrite_inside_the_database(signing, tmp_path):
    ledger, settings = signing
    await book(ledger)
    await _signed_up_to(settings, 8)
    await ledger.events([redemption(500 + i) for i in range(3)])
    await _signed_up_to(settings, 12)
    path = settings.checkpoint_file
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    records = checkpoints.read_records(settings)
    assert [r["seq"] for r in records] == sorted({r["seq"] for r in records})  # only moves
    assert all(r["book"] == "root" for r in records)

    await rewrite_consistently(ledger, 9, 100)
    fooled = await ledger.verify()
    assert fooled["ok"], fooled.get("reason")  # the database's own check is fooled

    export_file = tmp_path / "export.json"
    entries = await export(ledger)
    export_file.write_text(json.dumps({"entries": entries}), encoding="utf-8")
    assert run_verifier(str(export_file)).returncode == 0  # the rewritten chain is consistent

    r = await ledger.c.get(
        "/v1/chain/checkpoints", headers=ledger.auditor, params={"format": "jsonl"}
    )
    assert r.status_code == 200
    cp_file = tmp_path / "from_api.jsonl"
    cp_file.write_bytes(r.content)
    key = (await ledger.c.get("/v1/chain/public-key", headers=ledger.auditor)).json()
    caught = run_verifier(
        str(export_file), "--checkpoints", str(cp_file), "--trust", key["public_key"]
    )
    assert caught.returncode == 1, caught.stdout
    assert "agrees up to seq 8" in caught.stdout
    assert f"entry {entries[8]['id']} (seq 9)" in caught.stdout
    # the auditor's own copy (the file) says the same
    again = run_verifier(str(export_file), "--checkpoints", str(path))
    assert again.returncode == 1 and "(seq 9)" in again.stdout


async def test_checkpoints_agree_with_an_honest_export(signing, tmp_path):
    ledger, settings = signing
    await book(ledger)
    await _signed_up_to(settings, 8)
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps({"entries": await export(ledger)}), encoding="utf-8")
    key = (await ledger.c.get("/v1/chain/public-key", headers=ledger.auditor)).json()
    ok = run_verifier(
        str(export_file),
        "--checkpoints",
        str(settings.checkpoint_file),
        "--trust",
        key["public_key"],
    )
    assert ok.returncode == 0, ok.stdout
    page = (await ledger.c.get("/v1/chain/checkpoints", headers=ledger.auditor)).json()
    assert page["public_key"] == key["public_key"]
    newest = page["checkpoints"][0]
    assert newest["book"] == "root" and newest["type"] == "checkpoint"
    assert newest["heads"] == [{"book": "4501", "seq": 8, "hash": newest["heads"][0]["hash"]}]


async def test_a_period_close_signs_the_head_and_keys_rotate_by_hand_over(ledger, tmp_path):
    await book(ledger)
    settings = ledger.app.state.settings
    r = await ledger.c.post(
        "/v1/periods/2026-10/close", headers=ledger.finance, json={"idempotency_key": "close-10"}
    )
    assert r.status_code == 200, r.text
    (first,) = checkpoints.read_records(settings)
    assert first["reason"] == "period_close:2026-10" and _book_seqs(first) == {8}

    # a new key, handed over by the old one
    new_key, _ = ed25519_pair()
    rotated = settings.model_copy(
        update={
            "checkpoint_private_key": new_key,
            "checkpoint_previous_private_key": settings.checkpoint_private_key,
        }
    )
    await ledger.events([redemption(300)])
    written = await checkpoints.write_checkpoint(ledger.app.state.db, rotated, "interval")
    assert [w["type"] for w in written] == ["key_rotation", "checkpoint"]
    assert written[0]["key"] == checkpoints.public_hex(settings.checkpoint_private_key)
    assert written[0]["new_key"] == written[1]["key"] == checkpoints.public_hex(new_key)

    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps({"entries": await export(ledger)}), encoding="utf-8")
    old_public = checkpoints.public_hex(settings.checkpoint_private_key)
    cp = str(settings.checkpoint_file)
    ok = run_verifier(str(export_file), "--checkpoints", cp, "--trust", old_public)
    assert ok.returncode == 0, ok.stdout

    # a key nobody handed over to writes nothing
    stranger, _ = ed25519_pair()
    before = settings.checkpoint_file.read_bytes()
    with pytest.raises(checkpoints.KeyNotHandedOver):
        await checkpoints.write_checkpoint(
            ledger.app.state.db,
            settings.model_copy(update={"checkpoint_private_key": stranger}),
            "interval",
        )
    assert settings.checkpoint_file.read_bytes() == before
    # and a record forged with such a key is refused by the verifier
    forged = checkpoints.sign(
        {"type": "checkpoint", "book": "main", "seq": 8, "hash": "00" * 32, "signed_at": "x"},
        stranger,
    )
    with settings.checkpoint_file.open("a", encoding="utf-8") as f:
        f.write(json.dumps(forged) + "\n")
    bad = run_verifier(str(export_file), "--checkpoints", cp, "--trust", old_public)
    assert bad.returncode == 1 and "untrusted key" in bad.stdout


async def test_checkpoints_are_for_province_wide_auditors(ledger):
    for headers in (
        ledger.finance,
        ledger.service,
        ledger.tokens.headers("auditor", region="450100"),
    ):
        r = await ledger.c.get("/v1/chain/checkpoints", headers=headers)
        assert r.status_code == 403, r.text
    r = await ledger.c.get("/v1/chain/public-key", headers=ledger.tokens.headers("beneficiary"))
    assert r.status_code == 403
    assert (await ledger.c.get("/v1/chain/checkpoints")).status_code == 401


# --- one moment for every read ---------------------------------------------------------------


async def test_one_as_of_gives_pages_a_trial_balance_and_statements_of_one_moment(ledger):
    await book(ledger)
    tb = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()
    moment = tb["as_of"]
    assert moment.endswith("+08:00")
    await ledger.events([redemption(900 + i) for i in range(3)])  # after the moment

    first = (await ledger.c.get("/v1/entries", headers=ledger.auditor)).json()
    assert len(first["entries"]) == 12 and first["as_of"].endswith("+08:00")
    entries = await export(ledger, as_of=moment)
    assert [e["seq"] for e in entries] == list(range(1, 9))
    totals: dict[str, int] = {}
    for e in entries:
        for p in e["postings"]:
            totals[p["account_id"]] = totals.get(p["account_id"], 0) + p["amount_fen"]
    assert totals == {a["account_id"]: a["balance_fen"] for a in tb["accounts"]}
    again = (
        await ledger.c.get("/v1/trial-balance", headers=ledger.auditor, params={"as_of": moment})
    ).json()
    assert again["accounts"] == tb["accounts"]
    payable = next(a for a in tb["accounts"] if a["code"] == "2201")
    st = (
        await ledger.c.get(
            f"/v1/accounts/{payable['account_id']}/statement",
            headers=ledger.auditor,
            params={"as_of": moment},
        )
    ).json()
    assert st["closing_balance_fen"] == payable["balance_fen"] and st["as_of"] == moment
    now = (
        await ledger.c.get(
            f"/v1/accounts/{payable['account_id']}/statement", headers=ledger.auditor
        )
    ).json()
    assert now["closing_balance_fen"] != payable["balance_fen"]


# --- exports an auditor can use ----------------------------------------------------------------


async def test_entries_by_chart_code_or_name(ledger):
    await book(ledger)
    by_code = await export(ledger, account_code="2201")
    by_name = await export(ledger, account_code="provider_payable")
    assert by_code == by_name
    assert [e["kind"] for e in by_code] == ["redemption"] * 4 + ["redemption_void"]
    assert all(any(p["account"] == "2201" for p in e["postings"]) for e in by_code)
    r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params={"account_code": "9999"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "account_code"
    cash = by_code[0]["postings"][0]["account_id"]  # 2101, not 2201
    r = await ledger.c.get(
        "/v1/entries", headers=ledger.auditor, params={"account": cash, "account_code": "2201"}
    )
    assert r.status_code == 422


async def test_entries_trial_balance_and_statements_as_csv_and_xlsx(ledger):
    await book(ledger)
    r = await ledger.c.post(
        "/v1/appropriations",
        headers=ledger.finance,
        json={
            "idempotency_key": "appr:formula",
            "program_code": "disability_subsidy",
            "region_code": "450100",
            "by_source": {"central": 100},
            "memo": '=HYPERLINK("http://evil","点我")',
        },
    )
    assert r.status_code == 201
    entries = await export(ledger)
    n_postings = sum(len(e["postings"]) for e in entries)

    r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == n_postings
    assert sum(int(x["debit_fen"]) for x in rows) == sum(int(x["credit_fen"]) for x in rows)
    assert '\'=HYPERLINK("http://evil","点我")' in {x["memo"] for x in rows}

    r = await ledger.c.get(
        "/v1/entries", headers=ledger.auditor, params={"format": "xlsx", "account_code": "2201"}
    )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    header, *data = list(sheet.values)
    assert "account_code" in header and len(data) == sum(
        len(e["postings"]) for e in await export(ledger, account_code="2201")
    )

    tb = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()
    r = await ledger.c.get(
        "/v1/trial-balance",
        headers=ledger.auditor,
        params={"format": "csv", "as_of": tb["as_of"]},
    )
    *rows, total = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert total["code"] == "TOTAL" and total["debit_fen"] == total["credit_fen"]
    assert int(total["debit_fen"]) == tb["total_debit_fen"]
    assert [(x["account_id"], int(x["balance_fen"])) for x in rows] == [
        (a["account_id"], a["balance_fen"]) for a in tb["accounts"]
    ]
    r = await ledger.c.get("/v1/trial-balance", headers=ledger.auditor, params={"format": "xlsx"})
    assert load_workbook(io.BytesIO(r.content)).active.max_row == len(tb["accounts"]) + 2

    payable = next(a for a in tb["accounts"] if a["code"] == "2201")
    url = f"/v1/accounts/{payable['account_id']}/statement"
    r = await ledger.c.get(url, headers=ledger.auditor, params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0]["kind"] == "opening" and rows[-1]["kind"] == "closing"
    assert int(rows[-1]["balance_fen"]) == payable["balance_fen"]
    r = await ledger.c.get(url, headers=ledger.auditor, params={"format": "xlsx"})
    assert r.status_code == 200 and load_workbook(io.BytesIO(r.content)).active.max_row >= 3


async def test_the_journal_file_set_describes_itself_and_verifies(signing, tmp_path):
    ledger, settings = signing
    await book(ledger)
    await _signed_up_to(settings, 8)
    r = await ledger.c.get("/v1/journal/export", headers=ledger.auditor)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    path = tmp_path / "journal.zip"
    path.write_bytes(r.content)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert names == {
            "README.md",
            "schema.json",
            "accounts.csv",
            "entries.csv",
            "postings.csv",
            "entries.json",
            "checkpoints.jsonl",
        }
        schema = json.loads(z.read("schema.json"))
        for name in ("accounts.csv", "entries.csv", "postings.csv"):
            header = next(csv.reader(io.StringIO(z.read(name).decode())))
            assert header == list(schema[name]["columns"]), name
        postings = list(csv.DictReader(io.StringIO(z.read("postings.csv").decode())))
        accounts = {
            a["account_id"] for a in csv.DictReader(io.StringIO(z.read("accounts.csv").decode()))
        }
        assert {p["account_id"] for p in postings} <= accounts
        cp = tmp_path / "checkpoints.jsonl"
        cp.write_bytes(z.read("checkpoints.jsonl"))
    ok = run_verifier(str(path), "--checkpoints", str(cp))
    assert ok.returncode == 0, ok.stdout
    for who in (ledger.tokens.headers("auditor", region="450100"), ledger.service):
        assert (await ledger.c.get("/v1/journal/export", headers=who)).status_code == 403


# --- who and why ---------------------------------------------------------------------------


async def test_redemptions_and_voids_carry_who_and_why_in_the_hash(ledger, tmp_path):
    await book(ledger)
    red = redemption(800)
    red["payload"].update(terminal_id="term-7", staff_id="staff-42")
    voided = void(red)
    voided["payload"]["voided_by"] = "terminal:term-7"
    await ledger.events([red, voided])
    entries = await export(ledger)
    r_entry = next(e for e in entries if e["ref"] == red["payload"]["redemption_id"])
    assert r_entry["kind"] == "redemption"
    assert r_entry["details"] == {
        "terminal_id": "term-7",
        "staff_id": "staff-42",
        "service_code": "MEAL_LUNCH",
        "gross_fen": 1100,
        "copay_fen": 300,
    }
    v_entry = next(e for e in entries if e["reverses_entry_id"] == r_entry["id"])
    assert v_entry["details"] == {"voided_by": "terminal:term-7"} and v_entry["memo"] == "mistake"
    assert entries[0]["details"] is None  # nothing to add: not hashed at all
    assert (await ledger.verify())["ok"]
    f = tmp_path / "export.json"
    f.write_text(json.dumps({"entries": entries}), encoding="utf-8")
    assert run_verifier(str(f)).returncode == 0
    r_entry["details"]["staff_id"] = "staff-1"  # who did it is covered by the hash
    f.write_text(json.dumps({"entries": entries}), encoding="utf-8")
    bad = run_verifier(str(f))
    assert bad.returncode == 1 and f"entry {r_entry['id']}" in bad.stdout
