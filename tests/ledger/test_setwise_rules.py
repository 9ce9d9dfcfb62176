"""The journal's invariants hold for many entries written by one statement, as the service
writes a batch (migration ledger_0120: the chain, the balance check and the posting
references are checked per statement). Each test writes directly, bypassing the service, and
breaks one rule in one entry of a batch: the whole batch must be refused and the book left as
it was."""

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.ledger.service import hashing

E_COLS = (
    "id",
    "seq",
    "kind",
    "posted_at",
    "period",
    "idempotency_key",
    "created_by",
    "prev_hash",
    "hash",
)
E_TYPES = ("uuid", "bigint", "text", "timestamptz", "text", "text", "text", "bytea", "bytea")
P_COLS = ("entry_id", "line", "account_id", "amount_fen", "seq", "posted_at", "period")
P_TYPES = ("uuid", "smallint", "bigint", "bigint", "bigint", "timestamptz", "text")


async def _connect(url):
    return await asyncpg.connect(**asyncpg_connect_kwargs(url))


async def _batch(conn, amounts_per_entry, *, break_at=None, how=None, account=None):
    """Entries continuing the chain, each with postings of the given amounts, written as one
    INSERT of entries and one INSERT of postings (as repository.posting.write_entries does).
    Entry number `break_at` (0-based) gets `how(entry, its postings, the entries before)`
    applied after its hash is computed."""
    head = await conn.fetchrow("SELECT * FROM book_head WHERE book = 'main'")
    now = await conn.fetchval("SELECT clock_timestamp()")
    period = await conn.fetchval(
        "SELECT to_char($1::timestamptz AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')", now
    )
    acct = account or await conn.fetchval("SELECT min(id) FROM account")
    prev, seq = bytes(head["last_hash"]), head["last_seq"]
    entries, postings = [], []
    for i, amounts in enumerate(amounts_per_entry):
        seq += 1
        e = {
            "id": uuid.uuid4(),
            "book": "main",
            "seq": seq,
            "kind": "manual",
            "posted_at": now,
            "period": period,
            "program_code": None,
            "region_code": None,
            "provider_id": None,
            "beneficiary_id": None,
            "voucher_id": None,
            "ref": None,
            "event_id": None,
            "idempotency_key": f"manual:{uuid.uuid4()}",
            "reverses_entry_id": None,
            "memo": None,
            "created_by": "test",
        }
        lines = [
            {
                "entry_id": e["id"],
                "line": n + 1,
                "account_id": acct,
                "amount_fen": a,
                "currency": "CNY",
                "seq": seq,
                "posted_at": now,
                "period": period,
                "program_code": None,
                "region_code": None,
                "funding_source": None,
                "provider_id": None,
                "beneficiary_id": None,
                "voucher_id": None,
            }
            for n, a in enumerate(amounts)
        ]
        e["prev_hash"] = prev
        e["hash"] = prev = hashing.entry_hash(prev, e, lines)
        if i == break_at and how:
            how(e, lines, entries)
        entries.append(e)
        postings.extend(lines)
    await conn.execute(
        f"INSERT INTO entry ({', '.join(E_COLS)}) SELECT {', '.join(E_COLS)} FROM unnest("
        + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(E_TYPES))
        + f") WITH ORDINALITY AS t({', '.join(E_COLS)}, ord) ORDER BY ord",
        *([e[c] for e in entries] for c in E_COLS),
    )
    if postings:
        await conn.execute(
            f"INSERT INTO posting ({', '.join(P_COLS)}) SELECT * FROM unnest("
            + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(P_TYPES))
            + ")",
            *([p[c] for p in postings] for c in P_COLS),
        )
    return entries


@pytest.fixture
async def book(ledger):
    await ledger.appropriate({"central": 10_000})
    return ledger


async def _unchanged(book, before):
    assert await book.snapshot() == before
    assert (await book.verify())["ok"]


async def _refused(book, pattern, write, *, at_commit=False):
    """`write(conn)` inside a transaction is refused with `pattern` (at COMMIT if said), and
    nothing changed."""
    before = await book.snapshot()
    conn = await _connect(book.sdb.app_url)
    try:
        if at_commit:
            tx = conn.transaction()
            await tx.start()
            await write(conn)
            with pytest.raises(asyncpg.PostgresError, match=pattern):
                await tx.commit()
        else:
            with pytest.raises(asyncpg.PostgresError, match=pattern):
                async with conn.transaction():
                    await write(conn)
    finally:
        await conn.close()
    await _unchanged(book, before)


async def test_a_balanced_batch_is_accepted_and_verifies(book):
    conn = await _connect(book.sdb.app_url)
    try:
        async with conn.transaction():
            written = await _batch(conn, [[100, -100], [5, 7, -12], [1, -1]])
    finally:
        await conn.close()
    assert (await book.verify())["ok"]
    head = await book.fetchval("SELECT last_seq FROM book_head WHERE book = 'main'")
    assert head == written[-1]["seq"]


async def test_one_unbalanced_entry_refuses_the_whole_batch_and_is_named(book):
    seq = await book.fetchval("SELECT last_seq FROM book_head WHERE book = 'main'")
    await _refused(
        book,
        f"ENTRY_UNBALANCED: entry {seq + 3} does not sum",
        lambda c: _batch(c, [[100, -100], [5, -5], [10, -9], [1, -1]]),
        at_commit=True,
    )


async def test_one_entry_with_too_few_postings_refuses_the_batch(book):
    seq = await book.fetchval("SELECT last_seq FROM book_head WHERE book = 'main'")
    await _refused(
        book,
        f"ENTRY_TOO_FEW_POSTINGS: entry {seq + 2} has 1 postings",
        lambda c: _batch(c, [[100, -100], [5], [1, -1]]),
        at_commit=True,
    )
    await _refused(
        book,
        f"ENTRY_TOO_FEW_POSTINGS: entry {seq + 1} has 0 postings",
        lambda c: _batch(c, [[]]),
        at_commit=True,
    )


async def test_every_statement_of_a_transaction_is_checked(book):
    """Two batches in one transaction: the unbalanced entry in either is found (each move of
    the head queues its own check)."""

    async def first_bad(conn):
        await _batch(conn, [[3, -2]])
        await _batch(conn, [[1, -1], [2, -2]])

    async def second_bad(conn):
        await _batch(conn, [[1, -1], [2, -2]])
        await _batch(conn, [[4, -1]])

    await _refused(book, "ENTRY_UNBALANCED", first_bad, at_commit=True)
    await _refused(book, "ENTRY_UNBALANCED", second_bad, at_commit=True)


async def test_a_fork_inside_a_batch_is_refused(book):
    def fork(e, lines, _earlier):
        e["prev_hash"] = bytes(32)

    seq = await book.fetchval("SELECT last_seq FROM book_head WHERE book = 'main'")
    await _refused(
        book,
        f"CHAIN_FORK: entry {seq + 2} does not continue",
        lambda c: _batch(c, [[1, -1], [2, -2], [3, -3]], break_at=1, how=fork),
    )


async def test_a_forged_link_to_another_entry_of_the_batch_is_refused(book):
    """Entry 3 claims to follow entry 1 (skipping entry 2): a fork, even though the hash it
    names is in the same statement."""

    def relink(e, lines, earlier):
        e["prev_hash"] = earlier[0]["hash"]

    await _refused(
        book, "CHAIN_FORK", lambda c: _batch(c, [[1, -1], [2, -2], [3, -3]], break_at=2, how=relink)
    )


async def test_a_gap_and_a_repeated_seq_inside_a_batch_are_refused(book):
    def skip(e, lines, _earlier):
        e["seq"] += 1
        for p in lines:
            p["seq"] += 1

    await _refused(
        book,
        "CHAIN_SEQUENCE_GAP",
        lambda c: _batch(c, [[1, -1], [2, -2], [3, -3]], break_at=2, how=skip),
    )
    await _refused(book, "CHAIN_SEQUENCE_GAP", lambda c: _batch(c, [[1, -1]], break_at=0, how=skip))


async def test_dates_must_not_go_back_inside_a_batch(book):
    def earlier(e, lines, _earlier):
        e["posted_at"] = e["posted_at"] - timedelta(seconds=5)
        for p in lines:
            p["posted_at"] = e["posted_at"]

    await _refused(
        book, "POSTED_AT_INVALID", lambda c: _batch(c, [[1, -1], [2, -2]], break_at=1, how=earlier)
    )


async def test_the_period_must_be_the_month_of_the_date(book):
    def other_month(e, lines, _earlier):
        e["period"] = "2020-01"
        for p in lines:
            p["period"] = "2020-01"

    await _refused(
        book,
        "PERIOD_MISMATCH",
        lambda c: _batch(c, [[1, -1], [2, -2]], break_at=1, how=other_month),
    )


async def test_txid_is_the_databases_own(book):
    async def write(conn):
        await _batch(conn, [[1, -1]])
        await conn.execute(
            "INSERT INTO entry (id, seq, kind, posted_at, period, created_by, prev_hash, hash, "
            "idempotency_key, txid) SELECT gen_random_uuid(), last_seq + 1, 'manual', "
            "last_posted_at, to_char(last_posted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), "
            "'test', last_hash, last_hash, 'forged-txid', 1 FROM book_head WHERE book = 'main'"
        )

    await _refused(book, "ENTRY_SEALED: an entry's txid", write)


async def test_postings_need_an_existing_account_and_entry(book):
    async def no_account(conn):
        await _batch(conn, [[1, -1]], account=987654321)

    async def no_entry(conn):
        e = (await _batch(conn, [[1, -1]]))[0]
        await conn.execute(
            "INSERT INTO posting (entry_id, line, account_id, amount_fen, seq, posted_at, "
            "period) SELECT gen_random_uuid(), 1, min(id), 5, $1, $2, $3 FROM account",
            e["seq"],
            e["posted_at"],
            e["period"],
        )

    await _refused(book, "UNKNOWN_ACCOUNT", no_account)
    await _refused(book, "ENTRY_SEALED", no_entry)


async def test_racing_raw_writers_never_fork_the_chain(book):
    """Several connections each append a batch continuing the head they read, at once: the
    chain lock lets one at a time through; a writer that read a stale head is refused."""
    conns = [await _connect(book.sdb.app_url) for _ in range(4)]

    async def writer(conn):
        try:
            async with conn.transaction():
                await _batch(conn, [[1, -1], [2, -2]])
            return "ok"
        except asyncpg.PostgresError as exc:
            return type(exc).__name__ + str(exc)[:40]

    try:
        outcomes = await asyncio.gather(*(writer(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert outcomes.count("ok") >= 1
    assert all(
        o == "ok" or "CHAIN_" in o or "UniqueViolation" in o or "Deadlock" in o for o in outcomes
    ), outcomes
    v = await book.verify()
    assert v["ok"] and v["entries_checked"] == 1 + 2 * outcomes.count("ok")


async def _triggers(url):
    conn = await _connect(url)
    try:
        return {
            r[0]
            for r in await conn.fetch(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid IN ('entry'::regclass, 'book_head'::regclass)"
            )
        }
    finally:
        await conn.close()


async def test_the_setwise_migration_goes_down_to_the_row_triggers_and_up_again(make_db):
    from services.common.migrate import downgrade, upgrade

    sdb = await make_db("ledger")
    assert {"entry_chain_set", "book_head_entries_balanced"} <= await _triggers(sdb.owner_url)
    await asyncio.to_thread(downgrade, "ledger", sdb.owner_url, "ledger_0103")
    row_level = await _triggers(sdb.owner_url)
    assert {"entry_chain", "entry_balanced"} <= row_level
    assert not {"entry_chain_set", "book_head_entries_balanced"} & row_level
    conn = await _connect(sdb.owner_url)
    try:
        await conn.execute(
            "INSERT INTO account (code, name, kind, normal_sign) "
            "VALUES ('1001', 'treasury_cash', 'asset', 1)"
        )
        async with conn.transaction():
            await _batch(conn, [[1, -1], [2, -2]])  # the row triggers accept a batch, too
        tx = conn.transaction()
        await tx.start()
        await _batch(conn, [[1, -1], [2, -1]])
        with pytest.raises(asyncpg.PostgresError, match="ENTRY_UNBALANCED"):
            await tx.commit()
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, "ledger", sdb.owner_url)
    assert {"entry_chain_set", "book_head_entries_balanced"} <= await _triggers(sdb.owner_url)


async def test_a_posting_added_after_an_immediate_check_is_checked_too(book):
    """SET CONSTRAINTS ALL IMMEDIATE runs the balance check at once; a posting added to the
    same entry afterwards must not slip through unchecked (under ledger_0002 it did)."""

    async def write(conn):
        e = (await _batch(conn, [[5, -5]]))[0]
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        await conn.execute(
            "INSERT INTO posting (entry_id, line, account_id, amount_fen, seq, posted_at, "
            "period) SELECT $1, 3, min(id), 7, $2, $3, $4 FROM account",
            e["id"],
            e["seq"],
            e["posted_at"],
            e["period"],
        )

    await _refused(book, "ENTRY_UNBALANCED", write)


async def test_a_posting_repeats_its_entrys_provider_beneficiary_and_voucher(book):
    """The auditor's entries by provider, beneficiary or voucher are read from entry's own
    columns (migration ledger_1301: posting's indexes on them are gone), so a posting that
    names another provider, beneficiary or voucher than its entry is refused, balanced or
    not, like one with another seq or date."""
    for column in ("provider_id", "beneficiary_id", "voucher_id"):

        async def other(conn, column=column):
            e = (await _batch(conn, [[1, -1]]))[0]
            await conn.execute(
                "INSERT INTO posting (entry_id, line, account_id, amount_fen, seq, posted_at, "
                f"period, {column}) SELECT $1, n::smallint, (SELECT min(id) FROM account), "
                "CASE n WHEN 3 THEN 5 ELSE -5 END, $2, $3, $4, 'someone-else' "
                "FROM generate_series(3, 4) n",
                e["id"],
                e["seq"],
                e["posted_at"],
                e["period"],
            )

        await _refused(book, "ENTRY_SEALED", other)
