"""The database itself refuses what must never happen, whoever writes: tests connect
directly (as the owner, or as the service's own role) and try."""

import uuid
from datetime import datetime

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.ledger.service import hashing
from tests.ledger.conftest import redemption


async def _connect(url):
    return await asyncpg.connect(**asyncpg_connect_kwargs(url))


async def _raw_entry(conn, amounts, *, posted_at=None, seq=None, prev=None, period=None, key=None):
    """Insert an entry with postings by hand, continuing the chain correctly."""
    head = await conn.fetchrow("SELECT * FROM book_head WHERE book = 'main' FOR UPDATE")
    now = posted_at or await conn.fetchval("SELECT clock_timestamp()")
    acct = await conn.fetchval("SELECT min(id) FROM account")
    entry = {
        "id": uuid.uuid4(),
        "book": "main",
        "seq": seq or head["last_seq"] + 1,
        "kind": "manual",
        "posted_at": now,
        "period": period
        or await conn.fetchval(
            "SELECT to_char($1::timestamptz AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')", now
        ),
        "program_code": None,
        "region_code": None,
        "provider_id": None,
        "beneficiary_id": None,
        "voucher_id": None,
        "ref": None,
        "event_id": None,
        "idempotency_key": key or f"manual:{uuid.uuid4()}",
        "reverses_entry_id": None,
        "memo": None,
        "created_by": "test",
    }
    lines = [
        {
            "line": i + 1,
            "account_id": acct,
            "amount_fen": a,
            "currency": "CNY",
            "seq": entry["seq"],
            "posted_at": now,
            "period": entry["period"],
            "program_code": None,
            "region_code": None,
            "funding_source": None,
            "provider_id": None,
            "beneficiary_id": None,
            "voucher_id": None,
        }
        for i, a in enumerate(amounts)
    ]
    prev_hash = prev if prev is not None else bytes(head["last_hash"])
    h = hashing.entry_hash(prev_hash, entry, lines)
    await conn.execute(
        "INSERT INTO entry (id, seq, kind, posted_at, period, created_by, prev_hash, hash, "
        "idempotency_key) VALUES ($1, $2, 'manual', $3, $4, 'test', $5, $6, $7)",
        entry["id"],
        entry["seq"],
        now,
        entry["period"],
        prev_hash,
        h,
        entry["idempotency_key"],
    )
    for line in lines:
        await conn.execute(
            "INSERT INTO posting (entry_id, line, account_id, amount_fen, seq, posted_at, "
            "period) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            entry["id"],
            line["line"],
            acct,
            line["amount_fen"],
            entry["seq"],
            now,
            entry["period"],
        )
    return entry["id"]


@pytest.fixture
async def seeded(ledger):
    await ledger.appropriate({"central": 10_000})
    return ledger


async def test_unbalanced_entry_is_refused_at_commit(seeded):
    conn = await _connect(seeded.sdb.app_url)
    try:
        tx = conn.transaction()
        await tx.start()
        await _raw_entry(conn, [100, -99])
        with pytest.raises(asyncpg.PostgresError, match="ENTRY_UNBALANCED"):
            await tx.commit()
        async with conn.transaction():
            await _raw_entry(conn, [100])
            with pytest.raises(asyncpg.PostgresError, match="ENTRY_TOO_FEW_POSTINGS"):
                await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    finally:
        await conn.close()
    assert await seeded.fetchval("SELECT count(*) FROM entry") == 1
    assert (await seeded.verify())["ok"]


async def test_balanced_manual_entry_is_accepted_and_chain_stays_valid(seeded):
    conn = await _connect(seeded.sdb.app_url)
    async with conn.transaction():
        await _raw_entry(conn, [100, -100])
    await conn.close()
    assert (await seeded.verify())["ok"]


async def test_gap_and_fork_are_refused(seeded):
    conn = await _connect(seeded.sdb.app_url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="CHAIN_SEQUENCE_GAP"):
            async with conn.transaction():
                await _raw_entry(conn, [1, -1], seq=5)
        with pytest.raises(asyncpg.PostgresError, match="CHAIN_FORK"):
            async with conn.transaction():
                await _raw_entry(conn, [1, -1], prev=b"\x01" * 32)
    finally:
        await conn.close()


async def test_postings_cannot_be_added_to_an_earlier_entry(seeded):
    conn = await _connect(seeded.sdb.app_url)
    try:
        e = await conn.fetchrow("SELECT id, seq, posted_at, period FROM entry LIMIT 1")
        with pytest.raises(asyncpg.PostgresError, match="ENTRY_SEALED"):
            await conn.execute(
                "INSERT INTO posting (entry_id, line, account_id, amount_fen, seq, posted_at, "
                "period) SELECT $1, 9, min(id), 5, $2, $3, $4 FROM account",
                e["id"],
                e["seq"],
                e["posted_at"],
                e["period"],
            )
    finally:
        await conn.close()


APP_ROLE_REFUSED = [
    "UPDATE posting SET amount_fen = amount_fen + 1",
    "DELETE FROM posting",
    "UPDATE entry SET memo = 'x'",
    "DELETE FROM entry",
    "TRUNCATE posting",
    "UPDATE ledger_event SET status = 'rejected'",
    "DELETE FROM idempotency_record",
    "UPDATE accounting_period SET closed_by = 'x'",
]
OWNER_REFUSED = [
    "UPDATE posting SET amount_fen = amount_fen + 1",
    "DELETE FROM posting",
    "UPDATE entry SET memo = 'x'",
    "DELETE FROM entry",
    "TRUNCATE posting",
    "TRUNCATE entry CASCADE",
    "DELETE FROM idempotency_record",
    "UPDATE ledger_event SET status = 'rejected'",
    "UPDATE account SET balance_fen = 0",
    "DELETE FROM account",
    "UPDATE book_head SET last_seq = 0",
]


async def test_app_role_has_no_update_or_delete_on_the_journal(seeded):
    await seeded.events([redemption(1)])  # a (rejected) event row to try to change
    conn = await _connect(seeded.sdb.app_url)
    try:
        for sql in APP_ROLE_REFUSED:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_triggers_refuse_even_the_owner(seeded):
    await seeded.events([redemption(1)])
    conn = await _connect(seeded.sdb.owner_url)
    try:
        for sql in OWNER_REFUSED:
            with pytest.raises(asyncpg.PostgresError, match=r"JOURNAL_IMMUTABLE|DERIVED_ROW"):
                await conn.execute(sql)
    finally:
        await conn.close()
    assert (await seeded.verify())["ok"]


async def test_budget_overdraft_is_refused_by_the_database(seeded):
    """Even bypassing the service's own check, a budget cannot go below zero."""
    conn = await _connect(seeded.sdb.app_url)
    try:
        budget = await conn.fetchval("SELECT id FROM account WHERE code = '3001'")
        with pytest.raises(asyncpg.PostgresError, match="BUDGET_EXCEEDED"):
            async with conn.transaction():
                await _raw_entry(conn, [1, -1])
                await conn.execute(
                    "INSERT INTO posting (entry_id, line, account_id, amount_fen, seq, "
                    "posted_at, period) SELECT id, 3, $1, 10001, seq, posted_at, period "
                    "FROM entry WHERE book = 'main' ORDER BY seq DESC LIMIT 1",
                    budget,
                )
    finally:
        await conn.close()
    assert await seeded.fetchval("SELECT balance_fen FROM account WHERE code = '3001'") == -10_000


async def test_closed_period_takes_no_entries(seeded):
    r = await seeded.c.post(
        "/v1/periods/2026-10/close",
        headers=seeded.finance,
        json={"idempotency_key": "close-2026-10"},
    )
    assert r.status_code == 200, r.text
    again = await seeded.c.post(
        "/v1/periods/2026-10/close",
        headers=seeded.finance,
        json={"idempotency_key": "close-2026-10"},
    )
    assert again.json() == r.json()
    r = await seeded.c.post(
        "/v1/periods/2026-10/close",
        headers=seeded.finance,
        json={"idempotency_key": "close-2026-10-b"},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "PERIOD_ALREADY_CLOSED"
    current = await seeded.fetchval("SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")
    r = await seeded.c.post(
        f"/v1/periods/{current}/close",
        headers=seeded.finance,
        json={"idempotency_key": "close-now"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "PERIOD_NOT_ENDED"
    # An entry dated inside the closed period is refused by the database (a fresh book, so
    # the date is not before the last entry; the seeded entry is newer, so use a new db).
    conn = await _connect(seeded.sdb.owner_url)
    try:
        with pytest.raises(asyncpg.PostgresError, match=r"PERIOD_CLOSED|POSTED_AT_INVALID"):
            async with conn.transaction():
                await _raw_entry(
                    conn, [1, -1], posted_at=datetime.fromisoformat("2026-10-15T12:00:00+08:00")
                )
    finally:
        await conn.close()


async def test_closed_period_refusal_is_the_period_rule(make_db, tokens):
    """On an empty book (no later entry to order against) the refusal is PERIOD_CLOSED."""
    sdb = await make_db("ledger")
    conn = await _connect(sdb.owner_url)
    try:
        await conn.execute(
            "INSERT INTO account (code, name, kind, normal_sign) "
            "VALUES ('1001', 'treasury_cash', 'asset', 1)"
        )
        await conn.execute(
            "INSERT INTO accounting_period (period, closed_by) VALUES ('2026-10', 'test')"
        )
        with pytest.raises(asyncpg.PostgresError, match="PERIOD_CLOSED"):
            async with conn.transaction():
                await _raw_entry(
                    conn, [1, -1], posted_at=datetime.fromisoformat("2026-10-15T12:00:00+08:00")
                )
        async with conn.transaction():
            await _raw_entry(
                conn, [1, -1], posted_at=datetime.fromisoformat("2026-11-02T12:00:00+08:00")
            )
    finally:
        await conn.close()


async def test_void_of_an_unknown_redemption_is_rejected_and_stays_rejected(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(100_000)
    red = redemption(500)
    from tests.ledger.conftest import void

    v = void(red)
    first = await ledger.events([v])
    assert first[0]["status"] == "rejected"
    assert first[0]["error"]["code"] == "UNKNOWN_REDEMPTION"
    await ledger.events([red])
    again = await ledger.events([v])
    assert again == first  # the refusal is remembered, even now the redemption exists
    second_void = void(red)
    assert (await ledger.events([second_void]))[0]["status"] == "applied"
    third = await ledger.events([void(red)])
    assert third[0]["error"]["code"] == "ALREADY_VOIDED"


async def test_one_entry_per_idempotency_key_even_bypassing_the_service(seeded):
    conn = await _connect(seeded.sdb.app_url)
    try:
        key = await conn.fetchval("SELECT idempotency_key FROM entry LIMIT 1")
        with pytest.raises(asyncpg.UniqueViolationError, match="uq_entry_idempotency_key"):
            async with conn.transaction():
                await _raw_entry(conn, [1, -1], key=key)
    finally:
        await conn.close()


async def test_no_conjured_balances_or_parallel_books(seeded):
    conn = await _connect(seeded.sdb.app_url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="DERIVED_ROW"):
            await conn.execute(
                "INSERT INTO account (code, name, kind, normal_sign, region_code, balance_fen) "
                "VALUES ('1001', 'treasury_cash', 'asset', 1, '450900', 500)"
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO book_head VALUES ('shadow', 0, decode(repeat('00', 32), 'hex'), "
                "'-infinity')"
            )
    finally:
        await conn.close()


async def test_references_checked_set_wise_refuse_an_unknown_book_or_entry(seeded):
    """Migration ledger_1102 dropped two per-row foreign keys of the posting path; their
    guarantees hold, checked once per statement: no entry in a book without a head, no event
    recorded as applied with an entry that does not exist."""
    conn = await _connect(seeded.sdb.app_url)
    try:
        with pytest.raises(asyncpg.PostgresError, match="UNKNOWN_BOOK"):
            await conn.execute(
                "INSERT INTO entry (id, book, seq, kind, posted_at, period, created_by, "
                "prev_hash, hash, idempotency_key) VALUES ($1, '4599', 1, 'manual', now(), "
                "to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), 'test', "
                "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), 'k-4599')",
                uuid.uuid4(),
            )
        with pytest.raises(asyncpg.PostgresError, match="UNKNOWN_ENTRY"):
            await conn.execute(
                "INSERT INTO ledger_event (event_id, type, status, request_hash, entry_id) "
                "SELECT gen_random_uuid(), 'redemption.created', 'applied', '\\x00', e "
                "FROM unnest($1::uuid[]) AS e",
                [uuid.uuid4(), await conn.fetchval("SELECT id FROM entry LIMIT 1")],
            )
        assert await conn.fetchval("SELECT count(*) FROM ledger_event") == 0
    finally:
        await conn.close()
