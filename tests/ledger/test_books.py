"""Ledger books (issue 20): one gapless chain per city-level book, the root chain of anchors
over every book's head, tamper evidence per book and for the whole ledger, and writers of
different books that never wait on one another (real racing connections)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.ledger.repository import posting
from services.ledger.service import books
from tests.ledger.conftest import Ledger, redemption
from tests.ledger.test_auditor_proof import run_verifier

NANNING, LIUZHOU = "450100", "450200"
ROOT = Path(__file__).resolve().parents[2]


def redemption_in(budget_region: str, subsidy: int) -> dict:
    e = redemption(subsidy)
    e["payload"]["budget_region_code"] = budget_region
    return e


async def two_books(ledger: Ledger) -> None:
    """Budget, vouchers and redemptions in Nanning (book 4501) and Liuzhou (book 4502)."""
    for region in (NANNING, LIUZHOU):
        r = await ledger.appropriate({"central": 95_000, "regional": 5_000}, region=region)
        assert r.status_code == 201, r.text
        assert (await ledger.commit(50_000, region=region)).status_code == 201
    results = await ledger.events(
        [redemption_in(NANNING, 1_000), redemption_in(LIUZHOU, 2_000), redemption_in(NANNING, 3)]
    )
    assert {r["status"] for r in results} == {"applied"}


async def verify(ledger: Ledger, book: str | None = None) -> dict:
    params = {"book": book} if book else {}
    r = await ledger.c.get("/v1/chain/verify", headers=ledger.auditor, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def anchor(ledger: Ledger, **params) -> dict:
    r = await ledger.c.post("/v1/chain/anchor", headers=ledger.service, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_book_of_an_entry_is_its_city():
    assert books.book_of("450103") == books.book_of("450100") == "4501"
    assert books.book_of("450200") == "4502"
    assert books.book_of(None) == books.book_of("") == "main"


async def test_each_book_has_its_own_gapless_chain_and_the_root_anchors_them(ledger):
    await two_books(ledger)
    rows = await ledger.fetchval(
        "SELECT json_agg(json_build_array(book, seq) ORDER BY book, seq) FROM entry"
    )
    # (each book's batch ends with its expense recognition entry)
    assert json.loads(rows) == [["4501", 1], ["4501", 2], ["4501", 3], ["4501", 4], ["4501", 5],
                                ["4502", 1], ["4502", 2], ["4502", 3], ["4502", 4]]  # fmt: skip

    for book, n in (("4501", 5), ("4502", 4)):
        one = await verify(ledger, book)
        head = await ledger.fetchval("SELECT encode(last_hash, 'hex') FROM book_head "
                                     "WHERE book = $1", book)  # fmt: skip
        assert one == {"ok": True, "entries_checked": n, "head_hash": head, "book": book}

    first = await anchor(ledger)
    assert first["seq"] == 1 and first["prev_hash"] == "00" * 32
    assert [(h["book"], h["seq"]) for h in first["heads"]] == [("4501", 5), ("4502", 4)]
    assert (await anchor(ledger))["seq"] == 1  # nothing moved: no new anchor
    await ledger.events([redemption_in(LIUZHOU, 5)])
    second = await anchor(ledger)
    assert second["seq"] == 2 and second["prev_hash"] == first["hash"]
    assert [(h["book"], h["seq"]) for h in second["heads"]] == [("4501", 5), ("4502", 6)]

    whole = await verify(ledger)
    assert whole["ok"] and whole["entries_checked"] == 11 and whole["books"] == 2
    assert whole["anchors_checked"] == 2 and whole["head_hash"] == second["hash"]

    r = await ledger.c.get("/v1/chain/anchors", headers=ledger.auditor)
    assert [a["seq"] for a in r.json()] == [1, 2]
    # the entries' pages name each entry by (seq, book): every entry exactly once
    seen, cursor = [], None
    while True:
        q = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await ledger.c.get("/v1/entries", headers=ledger.auditor, params=q)).json()
        seen += [(e["book"], e["seq"]) for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 11


async def _owner_sql(ledger: Ledger, *statements: str) -> None:
    conn = await ledger.owner()
    try:
        await conn.execute("SET session_replication_role = replica")  # triggers off
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_tamper_in_one_book_is_named_and_the_others_still_verify(ledger):
    await two_books(ledger)
    await anchor(ledger)
    await _owner_sql(
        ledger,
        "UPDATE posting SET amount_fen = amount_fen + 1 WHERE book = '4502' AND seq = 3 "
        "AND line = 1",
        "UPDATE posting SET amount_fen = amount_fen - 1 WHERE book = '4502' AND seq = 3 "
        "AND line = 2",
    )
    whole = await verify(ledger)
    assert not whole["ok"]
    assert whole["first_bad_entry"]["book"] == "4502" and whole["first_bad_entry"]["seq"] == 3
    assert (await verify(ledger, "4501"))["ok"]
    assert not (await verify(ledger, "4502"))["ok"]


async def test_a_tampered_anchor_breaks_the_root(ledger):
    await two_books(ledger)
    await anchor(ledger)
    await ledger.events([redemption_in(NANNING, 7)])
    await anchor(ledger)
    assert (await verify(ledger))["ok"]
    assert (await verify(ledger, "root"))["ok"]
    await _owner_sql(
        ledger,
        "UPDATE root_anchor SET heads = jsonb_set(heads, '{0,seq}', '3') WHERE seq = 2",
    )
    whole = await verify(ledger)
    assert not whole["ok"] and whole["reason"].startswith("anchor 2")
    # the root alone (the last step of a book-by-book check) finds the same
    root = await verify(ledger, "root")
    assert not root["ok"] and root["reason"] == whole["reason"] and root["entries_checked"] == 0


async def test_the_books_list_what_a_book_by_book_check_walks(ledger):
    """GET /v1/chain/books: each book with its head; their entries add up to the whole
    ledger's, so a check book by book (then book=root) covers what one whole check does."""
    await two_books(ledger)
    await anchor(ledger)
    r = await ledger.c.get("/v1/chain/books", headers=ledger.auditor)
    assert r.status_code == 200, r.text
    listed = {b["book"]: b for b in r.json()}
    assert {k: v["entries"] for k, v in listed.items()} == {"4501": 5, "4502": 4}
    for book, b in listed.items():
        one = await verify(ledger, book)
        assert one["ok"] and one["head_hash"] == b["head_hash"]
    whole = await verify(ledger)
    assert whole["entries_checked"] == sum(b["entries"] for b in listed.values())
    root = await verify(ledger, "root")
    assert root["ok"] and root["head_hash"] == whole["head_hash"] and root["books"] == 2
    # auditors only, province-wide
    refused = await ledger.c.get("/v1/chain/books", headers=ledger.service)
    assert refused.status_code == 403


async def test_the_database_refuses_an_anchor_off_the_chain_and_a_book_not_empty(ledger):
    await two_books(ledger)
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.sdb.app_url))
    try:
        with pytest.raises(asyncpg.PostgresError, match="CHAIN_FORK"):
            await conn.execute(
                "INSERT INTO root_anchor (seq, anchored_at, heads, prev_hash, hash) VALUES "
                "(1, now(), '[]', decode(repeat('11', 32), 'hex'), decode(repeat('00', 32), "
                "'hex'))"
            )
        with pytest.raises(asyncpg.PostgresError, match="CHAIN_FORK"):  # beyond the head
            await conn.execute(
                "INSERT INTO root_anchor (seq, anchored_at, heads, prev_hash, hash) VALUES "
                """(1, now(), '[{"book": "4501", "seq": 99, "hash": "00"}]', """
                "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))"
            )
        with pytest.raises(asyncpg.PostgresError, match="DERIVED_ROW"):
            await conn.execute(
                "INSERT INTO book_head VALUES ('4503', 5, decode(repeat('00', 32), 'hex'), now())"
            )
        with pytest.raises(asyncpg.PostgresError, match=r"JOURNAL_IMMUTABLE|permission"):
            await conn.execute("DELETE FROM root_anchor")
    finally:
        await conn.close()


async def test_writers_of_different_books_never_wait_on_one_another(ledger):
    """A transaction holds Nanning's head (as a long batch would); Liuzhou's postings go
    through meanwhile, Nanning's wait for it: real connections racing."""
    await two_books(ledger)
    holder = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.sdb.app_url))
    tx = holder.transaction()
    await tx.start()
    try:
        await posting.lock_heads(holder, ["4501"])
        other = await asyncio.wait_for(ledger.events([redemption_in(LIUZHOU, 11)]), 10)
        assert other[0]["status"] == "applied"
        same = asyncio.ensure_future(ledger.events([redemption_in(NANNING, 12)]))
        await asyncio.sleep(1.0)
        assert not same.done()  # Nanning's writer waits for Nanning's head
    finally:
        await tx.rollback()
        await holder.close()
    assert (await asyncio.wait_for(same, 10))[0]["status"] == "applied"
    assert (await verify(ledger))["ok"]


async def test_the_file_set_carries_the_anchors_and_the_verifier_checks_books_and_root(
    ledger, tmp_path
):
    await two_books(ledger)
    await anchor(ledger)
    r = await ledger.c.get("/v1/journal/export", headers=ledger.auditor)
    assert r.status_code == 200
    path = tmp_path / "journal.zip"
    path.write_bytes(r.content)
    ok = run_verifier(str(path))
    assert ok.returncode == 0, ok.stdout
    assert "book 4501 OK: 5 entries" in ok.stdout and "book 4502 OK: 4 entries" in ok.stdout
    assert "root OK: 1 anchors over 2 books, 9 entries" in ok.stdout

    with zipfile.ZipFile(path) as z:
        doc = json.loads(z.read("entries.json"))
    doc["anchors"][0]["heads"][1]["seq"] = 2  # the anchor states another head of 4502
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    caught = run_verifier(str(bad))
    assert caught.returncode == 1 and "FAIL: anchor 1" in caught.stdout

    del doc["anchors"]  # the chains alone, the anchors given apart (GET /v1/chain/anchors)
    bad.write_text(json.dumps(doc), encoding="utf-8")
    anchors = tmp_path / "anchors.json"
    listing = await ledger.c.get("/v1/chain/anchors", headers=ledger.auditor)
    anchors.write_bytes(listing.content)
    assert run_verifier(str(bad), "--anchors", str(anchors)).returncode == 0


async def test_anchoring_needs_the_service_or_a_province_wide_scope(ledger):
    city = ledger.tokens.headers("finance", sub="finance:city", region="450100")
    r = await ledger.c.post("/v1/chain/anchor", headers=city)
    assert r.status_code == 403
    provider = ledger.tokens.headers("provider_admin", sub="p", provider_id="prov-1")
    assert (await ledger.c.post("/v1/chain/anchor", headers=provider)).status_code == 403
    assert (await ledger.c.get("/v1/chain/anchors", headers=city)).status_code == 403
    assert (await ledger.c.post("/v1/chain/anchor", headers=ledger.finance)).status_code == 200


async def test_the_anchor_command_anchors_from_the_database(ledger):
    await two_books(ledger)
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "services.ledger.anchor",
            "--database-url",
            ledger.sdb.app_url,
            "--no-sign",
        ],
        cwd=ROOT,
        env=dict(os.environ, YIYANG_ENV="test"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout.splitlines()[0])
    assert printed["seq"] == 1 and [h["book"] for h in printed["heads"]] == ["4501", "4502"]
    assert (await verify(ledger))["anchors_checked"] == 1
