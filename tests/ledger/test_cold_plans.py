"""The shapes of the cold paths' plans on a seeded journal (structure, never time): the
reconciliation reads the period's redemptions set-wise (joins, no subquery run per
redemption) by the period index; a city's trial balance reads its postings since the
snapshot by date; the auditor's entry pages find their entries through the indexes left
after posting's were trimmed (ledger_1301): by provider, beneficiary and voucher through
entry's, by account through posting's (account, seq) (planned with sequential scans off, so
that the indexes a statement can use show on a tiny journal)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlmodel import col

from loadtests import bench_cold
from services.common.db import asyncpg_connect_kwargs
from services.ledger.models import Posting
from services.ledger.repository import audit as audit_repo
from services.ledger.service import snapshots
from services.ledger.settlement.repository import reconciliation as recon_repo
from tests.loadtests.test_bench_cold import SHAPE


def _sql(stmt: Any) -> str:
    compiled = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


async def _plan(conn: asyncpg.Connection, sql: str) -> list[dict[str, Any]]:
    (row,) = await conn.fetch(f"EXPLAIN (FORMAT JSON) {sql}")
    return _nodes(json.loads(row[0])[0]["Plan"])


async def test_reconciliation_and_trial_balance_plans_have_the_set_wise_shapes(make_db):
    ledger = await make_db("ledger")
    seeded = await bench_cold.seed(ledger.owner_url, SHAPE, progress=lambda _: None)
    period = seeded.periods[-1]
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.owner_url))
    try:
        await conn.execute("ANALYZE")
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")  # show which index serves
            recon = await _plan(conn, _sql(recon_repo.period_redemptions(period, "45")))
            old = await _plan(
                conn,
                _sql(
                    recon_repo.redemptions_named_stmt(
                        [r.id for r in seeded.last[:3]],
                    )
                ),
            )
            since = snapshots.period_start(period) + timedelta(days=3)
            delta = await _plan(
                conn,
                _sql(audit_repo._scan_totals(since + timedelta(hours=5), "4501", since)),
            )
    finally:
        await conn.close()
    # set-wise: no subquery evaluated per redemption; the period's entries by their index
    assert not [n for n in recon if n.get("Parent Relationship") == "SubPlan"]
    assert "ix_entry_period_kind" in {n.get("Index Name") for n in recon}
    # (what it replaced: a subquery per redemption for its payable, reversal and claim)
    assert len([n for n in old if n.get("Parent Relationship") == "SubPlan"]) >= 2
    # a city's postings since the snapshot: by date (the BRIN index), not through a region
    # index (a city's whole history; posting has none since ledger_1301)
    used = {n.get("Index Name") for n in delta}
    assert "ix_posting_posted_at_brin" in used


def _indexes(plan: list[dict[str, Any]]) -> set[str]:
    """The indexes a plan reads, and "seq scan <table>" for each table it scans whole."""
    out = {n["Index Name"] for n in plan if "Index Name" in n}
    return out | {f"seq scan {n['Relation Name']}" for n in plan if n["Node Type"] == "Seq Scan"}


async def test_entry_pages_and_statements_are_read_through_the_indexes_left(make_db):
    """Each page the audit targets name finds its entries by one index range in (seq, book)
    order: a provider's, beneficiary's or voucher's on entry (one index row an entry; posting
    no longer has them), an account's on posting's (account, seq); a city's provider page checks
    the region on the entries' postings by the posting key. A statement's window reads the
    account's postings by (account, seq) too (the (account, date) index is gone)."""
    ledger = await make_db("ledger")
    await bench_cold.seed(ledger.owner_url, SHAPE, progress=lambda _: None)
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.owner_url))
    try:
        await conn.execute("ANALYZE")
        one = await conn.fetchrow(
            "SELECT provider_id, beneficiary_id, voucher_id FROM entry "
            "WHERE kind = 'redemption' ORDER BY seq DESC LIMIT 1"
        )
        account_id = await conn.fetchval(
            "SELECT a.id FROM account a WHERE a.code = '2201' ORDER BY a.id LIMIT 1"
        )
        posting_indexes = {
            r["indexname"]
            for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'posting'"
            )
        }
        start = await conn.fetchval("SELECT max(posted_at) - interval '20 days' FROM posting")
        plans: dict[str, list[dict[str, Any]]] = {}
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            for name, match in (
                ("provider", audit_repo.PostingFilter(provider_id=one["provider_id"])),
                ("beneficiary", audit_repo.PostingFilter(beneficiary_id=one["beneficiary_id"])),
                ("voucher", audit_repo.PostingFilter(voucher_id=one["voucher_id"])),
                (
                    "city provider",
                    audit_repo.PostingFilter(region_prefix="4501", provider_id=one["provider_id"]),
                ),
                ("account", audit_repo.PostingFilter(account_id=account_id)),
            ):
                for descending in (False, True):
                    stmt = audit_repo._keys(match, (0, ""), 101, descending)
                    plans[f"{name} {descending}"] = await _plan(conn, _sql(stmt))
            window = await _plan(
                conn,
                _sql(
                    select(col(Posting.seq))
                    .where(col(Posting.account_id) == account_id, col(Posting.posted_at) >= start)
                    .order_by(col(Posting.seq))
                    .limit(101)
                ),
            )
    finally:
        await conn.close()
    # posting keeps its key and four indexes; the dimensions' moved to entry
    assert posting_indexes == {
        "pk_posting",
        "ix_posting_account_seq",
        "ix_posting_seq_book",
        "ix_posting_posted_at_brin",
        "ix_posting_period_seq",
    }
    for dim in ("provider", "beneficiary", "voucher"):
        for descending in (False, True):
            used = _indexes(plans[f"{dim} {descending}"])
            assert used == {f"ix_entry_{dim}_seq"}, (used, dict(one))
    for descending in (False, True):
        used = _indexes(plans[f"city provider {descending}"])
        assert used == {"ix_entry_provider_seq", "pk_posting"}, used
        assert _indexes(plans[f"account {descending}"]) == {"ix_posting_account_seq"}
    assert _indexes(window) == {"ix_posting_account_seq"}
