"""The hot-path module repository/posting.py: every raw statement prepares against a migrated
database, and what `write_entries` writes is exactly what the pure rules say (the plans of
service/plans.py, the hash of service/hashing.py), read back the same by both readers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.common.db import Database, asyncpg_connect_kwargs
from services.ledger.repository import entries, posting
from services.ledger.service import chart, hashing, plans
from services.ledger.service.plans import EntryPlan

SHARES = {"central": 9500, "regional": 500}


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**asyncpg_connect_kwargs(url))


async def test_every_raw_statement_prepares_against_the_migrated_database(make_db):
    sdb = await make_db("ledger")
    conn = await _connect(sdb.app_url)  # the service's own role
    try:
        for sql in posting.STATEMENTS:
            await conn.prepare(sql)
    finally:
        await conn.close()


async def test_a_batchs_lookups_probe_by_key_whatever_the_journals_size(make_db):
    """The batch's events seen and redemptions posted are looked up one index probe per id
    (plans that cannot become a scan or a hash of the journal, which the planner chose for
    `= ANY($1)` and a plain join while the journal was small, a cost that then grew with it),
    in the generic plan a prepared statement settles on as in a custom one."""
    sdb = await make_db("ledger")
    conn = await _connect(sdb.owner_url)
    ids = [uuid.uuid4() for _ in range(500)]
    refs = [str(i) for i in ids]
    try:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            for sql, arg, index in (
                (posting.SEEN_EVENTS, ids, "ledger_event_pkey"),
                (posting.REDEMPTION_REFS, refs, "ix_entry_kind_ref"),
            ):
                stmt = await conn.prepare("EXPLAIN (FORMAT JSON) " + sql)
                plan = str(await stmt.fetchval(arg))
                assert '"Node Type": "Nested Loop"' in plan and index in plan, (mode, plan)
                assert "Seq Scan" not in plan and "Hash" not in plan, (mode, plan)
    finally:
        await conn.close()


async def test_a_batchs_accounts_are_found_one_probe_a_key_whatever_their_number(make_db):
    """The accounts a batch posts to are found by their keys, NULL dimensions included, one
    probe of ix_account_key each (ledger_1402): compared with `IS NOT DISTINCT FROM` alone,
    every key was compared with every account of its code (half a second a batch at 2,000
    providers). And each is the exact account: a key whose dimension is NULL never finds
    the account where it is set, nor the other way round."""
    sdb = await make_db("ledger")
    conn = await _connect(sdb.owner_url)
    try:
        await conn.execute(
            "INSERT INTO account (code, name, kind, normal_sign, program_code, region_code, "
            "funding_source, provider_id) SELECT '2201', 'provider_payable', 'liability', -1, "
            "'p_one', '450100', s, 'prov-' || g FROM generate_series(1, 3000) g, "
            "unnest(ARRAY['central', 'regional']) s"
        )
        await conn.execute("ANALYZE account")
        keys = [
            chart.key(chart.PROVIDER_PAYABLE, "p_one", "450100", "central", f"prov-{i}")
            for i in range(1, 500)
        ]
        cols = [list(c) for c in zip(*(k.as_tuple() for k in keys), strict=True)]
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            stmt = await conn.prepare("EXPLAIN (FORMAT JSON) " + posting.FIND_ACCOUNTS)
            plan = str(await stmt.fetchval(*cols))
            assert '"Node Type": "Nested Loop"' in plan and "ix_account_key" in plan, (mode, plan)
            assert "Seq Scan" not in plan and "Hash" not in plan, (mode, plan)
        await conn.execute("RESET plan_cache_mode")

        async with conn.transaction():
            found = await posting.resolve_accounts(conn, keys[:3])
            no_provider = chart.key(chart.PROVIDER_PAYABLE, "p_one", "450100", "central")
            opened = await posting.resolve_accounts(conn, [no_provider])
        ids = {
            r["provider_id"]: r["id"]
            for r in await conn.fetch(
                "SELECT id, provider_id FROM account WHERE funding_source = 'central' "
                "AND provider_id IN ('prov-1', 'prov-2', 'prov-3')"
            )
        }
        assert {k.provider_id: a.id for k, a in found.items()} == ids
        # the key without a provider is its own account, opened for it
        assert opened[no_provider].id not in ids.values()
        assert await conn.fetchval(
            "SELECT provider_id IS NULL FROM account WHERE id = $1", opened[no_provider].id
        )
    finally:
        await conn.close()


async def test_posting_refuses_to_run_outside_a_transaction(make_db):
    sdb = await make_db("ledger")
    conn = await _connect(sdb.app_url)
    try:
        with pytest.raises(RuntimeError, match="transaction"):
            await posting.lock_head(conn)
    finally:
        await conn.close()


def _book() -> list[EntryPlan]:
    common = {"created_by": "test", "event_id": None}
    return [
        plans.appropriation(
            program_code="p_one",
            region_code="450100",
            by_source={"central": 950_000, "regional": 50_000},
            created_by="finance:test",
            idempotency_key="appr-1",
            memo="颐养 budget",
        ),
        plans.commitment(
            purpose="voucher",
            program_code="p_one",
            budget_region_code="450100",
            amount_fen=100_000,
            shares_bp=SHARES,
            created_by="service:test",
            idempotency_key="commit-1",
            ref="c-1",
        ),
        plans.redemption(
            program_code="p_one",
            budget_region_code="450100",
            provider_id="prov-1",
            subsidy_fen=1001,
            shares_bp=SHARES,
            beneficiary_id="b-1",
            voucher_id="v-1",
            ref="r-1",
            idempotency_key="event:r-1",
            **common,
        ),
        plans.copay(
            received=True,
            program_code="p_one",
            budget_region_code="450100",
            provider_id="prov-1",
            amount_fen=300,
            beneficiary_id="b-1",
            voucher_id="v-1",
            ref="cp-1",
            idempotency_key="event:cp-1",
            **common,
        ),
    ]


async def _write(conn: asyncpg.Connection, book: list[EntryPlan]) -> list[posting.Written]:
    """The plans written as the service writes them, in the caller's transaction: their books'
    heads locked, their accounts opened, entries and postings in one statement."""
    heads = await posting.lock_heads(conn, posting.books_of(book))
    accounts = await posting.resolve_accounts(
        conn, (p.account for plan in book for p in plan.postings)
    )
    return await posting.write_entries(conn, heads, book, accounts)


async def test_write_entries_writes_what_the_plans_and_the_hash_rule_say(make_db):
    sdb = await make_db("ledger")
    book = _book()
    conn = await _connect(sdb.app_url)
    try:
        async with conn.transaction():
            head = await posting.lock_heads(conn, posting.books_of(book))
            accounts = await posting.resolve_accounts(
                conn, (p.account for plan in book for p in plan.postings)
            )
            written = await posting.write_entries(conn, head, book, accounts)
        entry_rows = await conn.fetch("SELECT * FROM entry ORDER BY seq")
        posting_rows = await conn.fetch("SELECT * FROM posting ORDER BY seq, line")
        account_rows = {r["id"]: r for r in await conn.fetch("SELECT * FROM account")}
    finally:
        await conn.close()

    assert [(w.entry_id, w.seq) for w in written] == [(p.id, i + 1) for i, p in enumerate(book)]
    assert len(entry_rows) == len(book)
    prev = hashing.GENESIS_HASH
    for plan, e in zip(book, entry_rows, strict=True):
        for field in set(hashing.ENTRY_FIELDS) - {"book", "seq", "posted_at", "period"}:
            assert e[field] == getattr(plan, field), field
        (locked,) = head.values()
        assert e["posted_at"] == locked.now and e["period"] == locked.period
        lines = [dict(p) for p in posting_rows if p["entry_id"] == plan.id]
        assert [p["line"] for p in lines] == list(range(1, len(plan.postings) + 1))
        for want, got in zip(plan.postings, lines, strict=True):
            key = want.account
            account = account_rows[got["account_id"]]
            assert got["amount_fen"] == want.amount_fen
            assert (
                account["code"],
                account["program_code"],
                account["region_code"],
                account["funding_source"],
                account["provider_id"],
                account["beneficiary_id"],
                account["currency"],
            ) == key.as_tuple()
            # a posting carries its account's dimensions, else its entry's
            assert got["program_code"] == (key.program_code or plan.program_code)
            assert got["region_code"] == (key.region_code or plan.region_code)
            assert got["funding_source"] == key.funding_source
            assert got["provider_id"] == (key.provider_id or plan.provider_id)
            assert got["beneficiary_id"] == (key.beneficiary_id or plan.beneficiary_id)
            assert got["voucher_id"] == plan.voucher_id
            assert (got["seq"], got["posted_at"], got["period"]) == (
                e["seq"],
                e["posted_at"],
                e["period"],
            )
        # the chain: each entry continues the one before, hashed from its rows
        assert bytes(e["prev_hash"]) == prev
        assert hashing.entry_hash(prev, dict(e), lines) == bytes(e["hash"])
        prev = bytes(e["hash"])

    # balances are the sums the plans say
    want_balance: dict[tuple[str | None, ...], int] = {}
    for plan in book:
        for key, delta in plan.deltas().items():
            want_balance[key.as_tuple()] = want_balance.get(key.as_tuple(), 0) + delta
    got_balance = {
        (
            a["code"],
            a["program_code"],
            a["region_code"],
            a["funding_source"],
            a["provider_id"],
            a["beneficiary_id"],
            a["currency"],
        ): a["balance_fen"]
        for a in account_rows.values()
    }
    assert got_balance == want_balance


async def test_entries_read_back_as_the_plans_they_were_written_from(make_db):
    """posting.redemption_entries (the hot path's reader) and entries.entry_plan (a cold path's,
    SQLAlchemy) both give back the plan that was written, postings and keys included."""
    sdb = await make_db("ledger")
    book = _book()
    conn = await _connect(sdb.app_url)
    try:
        async with conn.transaction():
            await _write(conn, book)
        [hot] = await posting.redemption_entries(conn, ["r-1", "unknown"])
    finally:
        await conn.close()
    db = Database(sdb.app_url)
    try:
        async with db.unit_of_work(readonly=True) as session:
            cold = await entries.entry_plan(session, book[2].id)
            missing = await entries.entry_plan(session, uuid.uuid4())
    finally:
        await db.dispose()
    assert missing is None and cold is not None
    original = book[2]
    for read in (hot, cold):
        assert read.id == original.id and read.kind == "redemption" and read.in_db
        assert not read.already_reversed
        assert [(p.account, p.amount_fen) for p in read.postings] == [
            (p.account, p.amount_fen) for p in original.postings
        ]
        assert (read.program_code, read.region_code, read.provider_id, read.ref) == (
            original.program_code,
            original.region_code,
            original.provider_id,
            original.ref,
        )


async def test_the_event_log_round_trips(make_db):
    sdb = await make_db("ledger")
    applied, rejected = uuid.uuid4(), uuid.uuid4()
    book = _book()[:1]
    conn = await _connect(sdb.app_url)
    try:
        async with conn.transaction():
            [written] = await _write(conn, book)
            await posting.insert_events(
                conn,
                [
                    posting.EventRecord(
                        applied,
                        "redemption.created",
                        "applied",
                        b"a",
                        written.entry_id,
                        None,
                        None,
                        datetime.now(UTC),
                    ),
                    posting.EventRecord(
                        rejected,
                        "redemption.voided",
                        "rejected",
                        b"r",
                        None,
                        "UNKNOWN_REDEMPTION",
                        "No posted redemption has this id.",
                        datetime.now(UTC),
                    ),
                ],
            )
        seen = await posting.events_by_id(conn, [applied, rejected, uuid.uuid4()])
    finally:
        await conn.close()
    assert seen == {
        applied: posting.SeenEvent("applied", b"a", written.entry_id, None, None),
        rejected: posting.SeenEvent(
            "rejected", b"r", None, "UNKNOWN_REDEMPTION", "No posted redemption has this id."
        ),
    }


async def test_a_batch_written_in_one_statement_is_checked_once_and_still_checked(make_db):
    """`write_entries` writes a batch's entries and postings in one statement. The entries'
    INSERT queues the deferred balance check by moving the head; the postings no longer queue
    it a second time (ledger_1401), so COMMIT checks the batch once. An unbalanced entry
    written that way is still refused at COMMIT."""
    sdb = await make_db("ledger")
    conn = await _connect(sdb.app_url)
    try:
        book = _book()
        async with conn.transaction():
            await _write(conn, book)
            head_updates = await conn.fetchval(
                "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'book_head'"
            )
        assert head_updates == 1  # the chain's move only: one check queued

        lopsided = plans.appropriation(
            program_code="p_one",
            region_code="450100",
            by_source={"central": 10},
            created_by="finance:test",
            idempotency_key="appr-lopsided",
            memo="one side short",
        )
        lopsided.postings[1].amount_fen += 1
        before = await conn.fetchval("SELECT count(*) FROM entry")
        with pytest.raises(asyncpg.PostgresError, match="ENTRY_UNBALANCED"):
            async with conn.transaction():
                await _write(conn, [lopsided])
        assert await conn.fetchval("SELECT count(*) FROM entry") == before
    finally:
        await conn.close()


async def test_only_reversals_are_indexed_as_reversing_and_the_lookup_still_uses_it(make_db):
    """Each entry is reversed at most once (a unique index), but only a reversal has a
    `reverses_entry_id`: the index holds the reversals alone (ledger_1403), so a redemption
    writes no NULL into it, and "is this entry reversed?" still probes it."""
    sdb = await make_db("ledger")
    conn = await _connect(sdb.owner_url)
    try:
        definition = await conn.fetchval(
            "SELECT pg_get_indexdef('uq_entry_reverses_entry_id'::regclass)"
        )
        assert "UNIQUE" in definition and "WHERE (reverses_entry_id IS NOT NULL)" in definition
        await conn.execute("SET enable_seqscan = off")  # (the empty table's cheapest plan)
        plan = str(
            await conn.fetchval("EXPLAIN (FORMAT JSON) " + posting.REDEMPTION_ENTRIES, ["r-1"])
        )
        assert "uq_entry_reverses_entry_id" in plan, plan
    finally:
        await conn.close()
