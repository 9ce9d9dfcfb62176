"""The shapes of the cold paths' plans on a seeded journal (structure, never time): the
reconciliation reads the period's redemptions set-wise (joins, no subquery run per
redemption) by the period index; a city's trial balance never reads its postings since the
snapshot through the region index (planned with sequential scans off, so that the indexes a
statement can use show on a tiny journal)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql

from loadtests import bench_cold
from services.common.db import asyncpg_connect_kwargs
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
    # a city's postings since the snapshot: by date, not through the region index (a city's
    # whole history)
    used = {n.get("Index Name") for n in delta}
    assert "ix_posting_region_seq" not in used
    assert used & {"ix_posting_account_posted_at", "ix_posting_posted_at_brin"}
