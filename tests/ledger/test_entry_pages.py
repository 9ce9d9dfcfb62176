"""Keyset pages of `GET /v1/entries` (cursor = the last entry's seq and book) while other
connections post into two books: every entry of the moment is answered exactly once, in
(seq, book) order, oldest or newest first, by provider, by account and unfiltered, and each
with all its postings (the page reads plain rows: repository/audit.py `entries_by_seq`)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.ledger.conftest import Ledger, redemption
from tests.ledger.test_books import LIUZHOU, NANNING, two_books

PROVIDER = "prov-pages"


def _in(budget_region: str, subsidy: int) -> dict[str, Any]:
    e = redemption(subsidy, provider=PROVIDER)
    e["payload"]["budget_region_code"] = budget_region
    return e


async def _pages(ledger: Ledger, params: dict[str, Any]) -> list[dict[str, Any]]:
    out, cursor = [], None
    while True:
        q = {"limit": 3, **params, **({"cursor": cursor} if cursor else {})}
        r = await ledger.c.get("/v1/entries", headers=ledger.auditor, params=q)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out
        await asyncio.sleep(0)  # let the writers in between pages


async def test_keyset_pages_give_every_entry_once_in_order_while_two_books_grow(ledger):
    await two_books(ledger)
    await ledger.events([_in(NANNING if i % 3 else LIUZHOU, 100 + i) for i in range(12)])
    moment = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()["as_of"]
    conn = await ledger.owner()
    try:
        before = {
            (r["seq"], r["book"]): r["n"]
            for r in await conn.fetch(
                "SELECT e.seq, e.book, count(p.*) AS n FROM entry e "
                "JOIN posting p ON p.entry_id = e.id GROUP BY e.id"
            )
        }
        mine = {
            (r["seq"], r["book"])
            for r in await conn.fetch(
                "SELECT DISTINCT seq, book FROM posting WHERE provider_id = $1", PROVIDER
            )
        }
        payable = await conn.fetchval(
            "SELECT id FROM account WHERE code = '2201' AND provider_id = $1 AND region_code = $2",
            PROVIDER,
            NANNING,
        )
        of_payable = {
            (r["seq"], r["book"])
            for r in await conn.fetch(
                "SELECT DISTINCT seq, book FROM posting WHERE account_id = $1", payable
            )
        }
    finally:
        await conn.close()
    assert len(mine) == 12 and 0 < len(of_payable) < 12

    stop = asyncio.Event()

    async def write() -> int:
        n = 0
        while not stop.is_set():
            await ledger.events([_in(NANNING, 7 + n), _in(LIUZHOU, 9 + n)])
            n += 1
            await asyncio.sleep(0)
        return n

    async def read() -> dict[str, list[dict[str, Any]]]:
        try:
            got = {}
            for name, params in (
                ("all", {}),
                ("all desc", {"order": "desc"}),
                ("provider", {"provider_id": PROVIDER}),
                ("provider desc", {"provider_id": PROVIDER, "order": "desc"}),
                ("account", {"account": payable}),
                ("account desc", {"account": payable, "order": "desc"}),
            ):
                got[name] = await _pages(ledger, {**params, "as_of": moment})
            return got
        finally:
            stop.set()

    written, got = await asyncio.gather(write(), read())
    assert written > 0  # the books grew while the pages were read
    for name, entries in got.items():
        keys = [(e["seq"], e["book"]) for e in entries]
        ordered = sorted(keys, reverse=name.endswith("desc"))
        assert keys == ordered and len(set(keys)) == len(keys), name  # in order, once each
        want = {"all": set(before), "provider": mine, "account": of_payable}[name.split()[0]]
        assert set(keys) == want, name  # every entry of the moment, none after it
        for e in entries:
            assert len(e["postings"]) == before[(e["seq"], e["book"])], name
            assert [p["line"] for p in e["postings"]] == sorted(p["line"] for p in e["postings"])
    # without `as_of` the pages follow the journal as it is now: the new entries too
    conn = await ledger.owner()
    try:
        now_mine = await conn.fetchval(
            "SELECT count(DISTINCT (seq, book)) FROM posting WHERE provider_id = $1", PROVIDER
        )
    finally:
        await conn.close()
    assert len(await _pages(ledger, {"provider_id": PROVIDER})) == now_mine == 12 + 2 * written
