"""Reconciliation's ledger side reads the period's redemptions set-wise (one join over the
period: repository/reconciliation.py `redemptions_of_period`); on a seeded journal with
planted mismatches it answers exactly what the per-redemption lookups answer
(`redemptions_named`, the statement it replaced), and a redemption the voucher side names
from another period is still found."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from loadtests import bench_cold
from services.common.db import Database, asyncpg_connect_kwargs
from services.ledger.service import clock
from services.ledger.settlement.repository import reconciliation as repo
from services.ledger.settlement.service.reconciliation import reconcile

SHAPE = bench_cold.Shape(
    entries=900,
    redemptions=300,
    books=2,
    months=3,
    providers=5,
    beneficiaries=50,
    last_period=bench_cold.previous_period(datetime.now(clock.TZ).strftime("%Y-%m")),
)


async def _plant(owner_url: str, period: str) -> dict[str, str]:
    """Mismatches written straight into the tables (triggers off): a payable amount changed,
    a payable posting gone, a reversal, a live claim line and a left one; returns which
    redemption got which."""
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(owner_url))
    try:
        await conn.execute("SET session_replication_role = replica")
        rows = await conn.fetch(
            "SELECT id, ref, book FROM entry WHERE kind = 'redemption' AND period = $1 "
            "ORDER BY book, seq LIMIT 6",
            period,
        )
        amount, gone, reversed_, claimed, left, twice = rows
        payable = "(SELECT id FROM account WHERE code = '2201')"
        await conn.execute(
            f"UPDATE posting SET amount_fen = amount_fen - 7 WHERE entry_id = $1 "
            f"AND account_id IN {payable}",
            amount["id"],
        )
        await conn.execute(
            f"DELETE FROM posting WHERE entry_id = $1 AND account_id IN {payable}", gone["id"]
        )
        for n, target in enumerate((reversed_, twice)):
            await conn.execute(
                "INSERT INTO entry (id, book, seq, kind, posted_at, period, idempotency_key, "
                "reverses_entry_id, created_by, prev_hash, hash) VALUES ($1, $2, $3, "
                "'redemption_void', now(), to_char(now(), 'YYYY-MM'), $4, $5, 'test', $6, $6)",
                uuid.uuid4(),
                target["book"],
                1_000_000 + n,
                f"plant:{n}",
                target["id"],
                b"\0" * 32,
            )
        claim = uuid.uuid4()
        for target, active in ((claimed, True), (left, False), (twice, True)):
            await conn.execute(
                "INSERT INTO claim_line (claim_id, redemption_id, entry_id, amount_fen, active) "
                "VALUES ($1, $2, $3, 100, $4)",
                claim if active else uuid.uuid4(),
                target["ref"],
                target["id"],
                active,
            )
        return {
            "amount": amount["ref"],
            "gone": gone["ref"],
            "reversed": reversed_["ref"],
            "claimed": claimed["ref"],
            "left": left["ref"],
            "twice": twice["ref"],
            "claim": str(claim),
        }
    finally:
        await conn.close()


async def test_setwise_redemptions_equal_the_per_row_lookups_on_planted_mismatches(make_db):
    ledger = await make_db("ledger")
    seeded = await bench_cold.seed(ledger.owner_url, SHAPE, progress=lambda _: None)
    period = seeded.periods[-1]
    planted = await _plant(ledger.owner_url, period)
    db = Database(ledger.owner_url)
    try:
        for prefix in ("", "4501", "4502"):
            async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as s:
                setwise = await repo.redemptions_of_period(s, period, prefix)
                refs = [r.redemption_id for r in setwise]
                per_row = await repo.redemptions_named(s, refs)
            assert sorted(setwise, key=str) == sorted(per_row, key=str), prefix
            assert len(setwise) == (300 if prefix == "" else 150)
        async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as s:
            whole = {r.redemption_id: r for r in await repo.redemptions_of_period(s, period, "")}
        assert (
            whole[planted["amount"]].amount_fen
            == next(r.subsidy_fen for r in seeded.last if r.id == planted["amount"]) + 7
        )
        assert whole[planted["gone"]].amount_fen is None
        assert whole[planted["reversed"]].reversed and whole[planted["twice"]].reversed
        assert whole[planted["claimed"]].claim_id == planted["claim"]
        assert whole[planted["twice"]].claim_id == planted["claim"]
        assert whole[planted["left"]].claim_id is None
        assert sum(r.reversed for r in whole.values()) == 2
        assert sum(r.claim_id is not None for r in whole.values()) == 2

        # the voucher side names a redemption posted in an earlier period: looked up by id
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(ledger.owner_url))
        try:
            other = await conn.fetchrow(
                "SELECT ref, provider_id FROM entry WHERE kind = 'redemption' AND period < $1 "
                "ORDER BY seq LIMIT 1",
                period,
            )
        finally:
            await conn.close()
        voucher = bench_cold.SeededVoucherSide(
            [
                *seeded.last,
                bench_cold.Redemption(other["ref"], other["provider_id"], 1, "", "450100"),
            ],
            [],
        )
        report = await reconcile(db, voucher, period, "450000")  # type: ignore[arg-type]
        kinds = {(d["kind"], d["record"].removeprefix("redemption:")) for d in report.discrepancies}
        assert ("AMOUNT_MISMATCH", planted["amount"]) in kinds
        assert ("AMOUNT_MISMATCH", planted["gone"]) in kinds
        assert ("REVERSED_IN_LEDGER", planted["reversed"]) in kinds
        assert ("CLAIM_MISMATCH", planted["claimed"]) in kinds
        assert ("CLAIMED_BUT_VOIDED", planted["twice"]) in kinds
        assert ("AMOUNT_MISMATCH", other["ref"]) in kinds  # found, and its amount is not 1
        assert not any(k == "MISSING_IN_LEDGER" for k, _ in kinds)
        assert report.redemptions_checked == 301
    finally:
        await db.dispose()
