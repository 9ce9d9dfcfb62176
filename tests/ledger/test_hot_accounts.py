"""Hot accounts keep their balance in slots (migration ledger_1101, ledger_hot_balance.sql):
writers of one account from different books, on real connections racing, do not queue on its
row, never overdraw it, and its balance — the slots summed — stays exactly its postings.

Today every writer of an account holds its book's head (an account's region is its book's), so
the writers here post a Nanning account from other books' heads: the case of a city's book
split in several, which the slots are for (docs/ledger.md, "Hot accounts")."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs, retry_transaction
from services.ledger.repository import posting
from services.ledger.service import chart, plans
from tests.ledger.conftest import CITY, PROGRAM, SHARES

OUTSTANDING = (
    "SELECT a.id, a.balance_fen AS slot0, "
    "coalesce(array_agg(b.balance_fen ORDER BY b.slot) FILTER (WHERE b.slot IS NOT NULL), "
    "'{}') AS slots, "
    "(SELECT coalesce(sum(p.amount_fen), 0) FROM posting p WHERE p.account_id = a.id) AS posted "
    "FROM account a LEFT JOIN account_balance_slot b ON b.account_id = a.id "
    "WHERE a.code = '2101' AND a.region_code = $1 GROUP BY a.id"
)


def _redemption_in_book(book_region: str, subsidy: int, provider: str) -> plans.EntryPlan:
    """A redemption of Nanning's budget written in the book of `book_region`."""
    plan = plans.redemption(
        program_code=PROGRAM,
        budget_region_code=CITY,
        provider_id=provider,
        subsidy_fen=subsidy,
        shares_bp=SHARES,
        created_by="test",
        idempotency_key=f"hot:{uuid.uuid4()}",
        ref=str(uuid.uuid4()),
    )
    return dataclasses.replace(plan, region_code=book_region)


async def _post(
    url: str,
    book_region: str,
    subsidy: int,
    provider: str,
    *,
    written: asyncio.Event | None = None,
    release: asyncio.Event | None = None,
) -> int:
    """Post one redemption in its own transaction (retried on a deadlock), holding the
    transaction open after writing until `release` is set; the backend's pid."""
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    plan = _redemption_in_book(book_region, subsidy, provider)
    try:

        async def attempt() -> None:
            async with conn.transaction():
                heads = await posting.lock_heads(conn, posting.books_of([plan]))
                accounts = await posting.resolve_accounts(conn, (p.account for p in plan.postings))
                await posting.write_entries(conn, heads, [plan], accounts)
                if written is not None:
                    written.set()
                if release is not None:
                    await release.wait()

        await retry_transaction(attempt)
        return int(conn.get_server_pid())
    finally:
        await conn.close()


async def _outstanding(ledger) -> dict:
    conn = await ledger.owner()
    try:
        row = await conn.fetchrow(OUTSTANDING, CITY)
    finally:
        await conn.close()
    return {"slots": [row["slot0"], *row["slots"]], "posted": row["posted"]}


async def _waiting_on_a_lock(ledger, count: int) -> None:
    """Until `count` backends of the test wait on a row lock (a condition, not a time)."""
    conn = await ledger.owner()
    try:
        for _ in range(600):
            n = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if n >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no writer ever waited")
    finally:
        await conn.close()


async def _spread(ledger) -> None:
    """Two writers meet on vouchers outstanding: the second finds slot 0 held and the other
    slots empty, so it waits for every slot, then spreads the balance over them."""
    url = ledger.sdb.app_url
    written, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_post(url, "450200", 100, "p-a", written=written, release=release))
    await written.wait()
    second = asyncio.create_task(_post(url, "450300", 100, "p-b"))
    await _waiting_on_a_lock(ledger, 1)
    release.set()
    await asyncio.gather(first, second)


@pytest.fixture
async def funded(ledger):
    assert (await ledger.appropriate({"central": 950_000, "regional": 50_000})).status_code == 201
    assert (await ledger.commit(400_000)).status_code == 201
    # one redemption first, opening the expense accounts (a writer opening an account makes
    # the others wait for its commit: not what is tested here)
    await _post(ledger.sdb.app_url, CITY, 200, "p-0")
    out = await _outstanding(ledger)
    assert out["slots"] == [-399_800, 0, 0, 0]  # a writer alone moves slot 0 only
    return ledger


async def test_writers_of_a_hot_account_in_other_books_do_not_queue_on_its_row(funded):
    ledger = funded
    await _spread(ledger)
    out = await _outstanding(ledger)
    assert sum(out["slots"]) == out["posted"] == -400_000 + 400
    assert all(s < 0 for s in out["slots"]), out  # spread: each slot covers a debit now

    # Four writers in four books, each holding its transaction open until all four have
    # written to vouchers outstanding (and to expense and budget expended, hot too): had any
    # waited on another's row, the four would never all get there.
    url = ledger.sdb.app_url
    written = [asyncio.Event() for _ in range(4)]
    release = asyncio.Event()
    tasks = [
        asyncio.create_task(
            _post(url, f"45{4 + k:02d}00", 1_000, f"q-{k}", written=written[k], release=release)
        )
        for k in range(4)
    ]
    await asyncio.wait_for(asyncio.gather(*(w.wait() for w in written)), 60)
    release.set()
    await asyncio.gather(*tasks)

    out = await _outstanding(ledger)
    assert sum(out["slots"]) == out["posted"] == -400_000 + 400 + 4_000
    assert (await ledger.budget())["available_fen"] == 600_000
    assert (await ledger.verify())["ok"]


async def test_racing_debits_never_overdraw_a_hot_account_and_its_sum_stays_exact(funded):
    ledger = funded
    await _spread(ledger)
    balance = -sum((await _outstanding(ledger))["slots"])  # 399,600
    debit = balance // 10  # ten fit, the eleventh and twelfth cannot
    url = ledger.sdb.app_url
    results = await asyncio.gather(
        *(_post(url, f"45{10 + k:02d}00", debit, f"r-{k}") for k in range(12)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 2, results
    assert all(isinstance(r, asyncpg.CheckViolationError) for r in refused), refused
    assert all("INSUFFICIENT_BALANCE" in str(r) for r in refused), refused

    out = await _outstanding(ledger)
    assert sum(out["slots"]) == out["posted"] == -(balance - 10 * debit)
    assert all(s <= 0 for s in out["slots"]), out  # no slot crossed zero
    conn = await ledger.owner()
    try:
        # every account, its slots summed, is its postings; every slot on its side of zero
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM account a WHERE a.balance_fen + coalesce((SELECT "
                "sum(b.balance_fen) FROM account_balance_slot b WHERE b.account_id = a.id), 0) "
                "<> (SELECT coalesce(sum(p.amount_fen), 0) FROM posting p "
                "WHERE p.account_id = a.id)"
            )
            == 0
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM account_balance_slot "
                "WHERE no_overdraft AND balance_fen * normal_sign < 0"
            )
            == 0
        )
        assert await conn.fetchval("SELECT coalesce(sum(amount_fen), 0) FROM posting") == 0
    finally:
        await conn.close()
    assert chart.balance_slots(chart.VOUCHERS_OUTSTANDING) == chart.HOT_BALANCE_SLOTS
    assert (await ledger.verify())["ok"]


async def test_slots_are_derived_rows_no_role_can_set(funded):
    ledger = funded
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.sdb.app_url))
    try:
        account = await conn.fetchval("SELECT id FROM account WHERE code = '2101'")
        for sql in (
            "UPDATE account_balance_slot SET balance_fen = -5 WHERE account_id = $1",
            "DELETE FROM account_balance_slot WHERE account_id = $1",
            "UPDATE account SET balance_slots = 1 WHERE id = $1",
        ):
            with pytest.raises(asyncpg.PostgresError, match="DERIVED_ROW"):
                await conn.execute(sql, account)
        with pytest.raises(asyncpg.PostgresError, match="DERIVED_ROW"):
            await conn.execute(
                "INSERT INTO account_balance_slot (account_id, slot, no_overdraft, normal_sign) "
                "VALUES ($1, 9, false, -1)",
                account,
            )
    finally:
        await conn.close()
