"""`yiyang bench cold` run tiny on real PostgreSQL: the seeded journal is a valid chain with
balances that match, the snapshot job's trial balance (and a statement's opening balance)
equals the scanning one at any moment, and the seeded period reconciles clean."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlmodel import col

from loadtests import bench_cold
from services.common.db import Database
from services.ledger.models import BalanceSnapshot, Posting
from services.ledger.repository import audit as audit_repo
from services.ledger.repository import snapshots as snapshot_repo
from services.ledger.service import audit, chain, clock, periods, snapshots


def _months_ago(n: int) -> str:
    period = datetime.now(clock.TZ).strftime("%Y-%m")
    for _ in range(n):
        period = bench_cold.previous_period(period)
    return period


# The journal ends two months ago: last month is open, and closing it writes a snapshot.
SHAPE = bench_cold.Shape(
    entries=1200,
    redemptions=400,
    books=2,
    months=3,
    providers=5,
    beneficiaries=50,
    last_period=_months_ago(2),
)


def _rows(tb: list[audit_repo.AccountTotals]) -> list[tuple[int | None, int, int, int]]:
    return [(r.account.id, r.debit_fen, r.credit_fen, r.balance_fen) for r in tb]


async def test_a_tiny_cold_seed_verifies_and_snapshots_equal_the_scan(make_db):
    ledger = await make_db("ledger")
    seeded = await bench_cold.seed(ledger.owner_url, SHAPE, progress=lambda _: None)
    # and an expense recognition entry per book and month (fewer than 500 redemptions each)
    assert seeded.entries == 1200 + 2 * 3
    assert len(seeded.last) == 400
    db = Database(ledger.owner_url)
    try:
        report = await chain.verify_chain(db)  # every book, the root, every balance
        assert report.ok, report
        assert report.entries_checked == 1206
        assert await audit.trial_balance(db, None, "") is not None
        taken = await snapshots.take_due(db)
        assert len(taken) >= 80  # a day's start in each of three months
        assert await snapshots.take_due(db) == []  # nothing left to take
        start = snapshots.period_start(seeded.periods[0])
        moments = [
            start - timedelta(days=1),  # before the journal
            start + timedelta(seconds=1),  # the first entry
            taken[0],  # exactly on a snapshot
            taken[0] - timedelta(microseconds=1),
            snapshots.period_end(seeded.periods[0]),  # a period's end
            *(start + timedelta(days=random.Random(7).random() * 90 + i) for i in range(5)),
            snapshots.period_end(seeded.periods[-1]) + timedelta(days=3),  # after it all
        ]
        for prefix in ("", "4501", "4502"):
            for moment in moments:
                async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as s:
                    scanned = await audit_repo.trial_balance(s, moment, prefix)
                    since = await snapshot_repo.latest(s, moment)
                    from_snapshot = await audit_repo.trial_balance(s, moment, prefix, since)
                assert _rows(from_snapshot) == _rows(scanned), (prefix, moment)
                served = await audit.trial_balance(db, moment, prefix)
                assert served.balanced
                assert [
                    (int(a.account_id), a.debit_fen, a.credit_fen, a.balance_fen)
                    for a in served.accounts
                ] == _rows(scanned)
        assert _rows(scanned)  # the last moment saw every posting
        # a statement's opening balance from the last snapshot plus the postings since equals
        # the sum of every posting before the moment, for hot and quiet accounts alike
        async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as s:
            chart = await audit_repo.accounts(s, "")
            for account in chart[:: max(1, len(chart) // 12)] + chart[-2:]:
                for moment in moments:
                    plain = await s.scalar(
                        select(func.coalesce(func.sum(col(Posting.amount_fen)), 0)).where(
                            col(Posting.account_id) == account.id,
                            col(Posting.posted_at) < moment,
                        )
                    )
                    opening = await audit_repo.opening_balance(s, account, moment)
                    assert opening == plain, (account.id, moment)
        recon = await bench_cold.reconciliation(db, seeded)
        assert recon["ok"] and recon["redemptions_checked"] == 400

        # the period close writes the snapshot at its end (here: the same totals as the job's
        # last one, nothing was posted since)
        last_month = _months_ago(1)
        until = snapshots.period_end(last_month)
        async with db.unit_of_work() as s:
            await s.execute(delete(BalanceSnapshot).where(col(BalanceSnapshot.until) >= until))
        closed = await periods.close_period(db, last_month, "close-last", "test")
        assert closed.status_code == 200
        async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as s:
            assert await snapshot_repo.latest(s, until) == until
            scanned = await audit_repo.trial_balance(s, until, "")
            from_snapshot = await audit_repo.trial_balance(s, until, "", until)
        assert _rows(from_snapshot) == _rows(scanned) != []
    finally:
        await db.dispose()
