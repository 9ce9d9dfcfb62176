"""The one SQL statement computes what the pure rule computes (generated cases, real DB)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.db import asyncpg_connect_kwargs
from services.common.errors import AppError
from services.common.ids import new_uuid
from services.common.statement_pool import StatementPool
from services.voucher.repository import redemption as repo
from services.voucher.service.redemption import VoucherState, compute_split, local_day

cases = st.fixed_dictionaries(
    {
        "face": st.integers(1, 100_000),
        "spent": st.integers(0, 100_000),
        "ratio_bp": st.none() | st.integers(0, 10_000),
        "per_use_fen": st.none() | st.integers(1, 2_000),
        "per_txn_cap_fen": st.none() | st.integers(0, 50_000),
        "day_cap_fen": st.none() | st.integers(0, 50_000),
        "day_limit_count": st.none() | st.integers(0, 4),
        "used_count": st.integers(0, 5),
        "used_fen": st.integers(0, 50_000),
        "counters_from_today": st.booleans(),
        # The bill: one to three lines (categories of the voucher, or one it does not allow),
        # each a quantity at a unit price; the statement must take the bill whole.
        "lines": st.lists(
            st.tuples(
                st.sampled_from(["bathing", "bathing", "cleaning", "meal"]),
                st.integers(1, 5),
                st.integers(1, 40_000),
            ),
            min_size=1,
            max_size=3,
        ),
        # The voucher's area is Nanning (4501, from its budget region); the provider is in it
        # (Qingxiu, or a township of Jiangnan) or not (Liuzhou, or no region at all).
        "provider_region": st.sampled_from(["450103", "450105001", "450203", None]),
    }
)


async def run_together(db_url: str, calls: list) -> list:
    """Run `calls` (each a function of a pool, returning a coroutine) as redemptions waiting
    for the one connection of a statement pool while it is busy: they run together, in one
    statement, as they do in the service under load."""
    pool = StatementPool(lambda: asyncpg.connect(**asyncpg_connect_kwargs(db_url)), 1)
    try:
        busy = asyncio.create_task(pool.fetchrow("SELECT pg_sleep(0.05)"))
        await asyncio.sleep(0)  # the busy call has taken the pool's one connection
        answers = await asyncio.gather(*(call(pool) for call in calls))
        await busy
        assert (pool.statements_together, pool.calls_together) == (1, len(calls))
        return list(answers)
    finally:
        await pool.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases)
@pytest.mark.parametrize("how", ["alone", "together"])
async def test_statement_agrees_with_pure_rule(world, case, how):
    """REDEEM alone, and two twins' redemptions run together through its function."""
    balance = max(case["face"] - case["spent"], 0)
    gross = sum(quantity * price for _category, quantity, price in case["lines"])
    covered = {"bathing", "cleaning"}
    now = datetime.now(UTC)
    today = local_day(now)
    day_on = today if case["counters_from_today"] else today.replace(year=today.year - 1)
    people = []
    for _twin in range(1 if how == "alone" else 2):
        ben = await world.add_beneficiary()
        vid = await world.add_voucher(
            ben,
            face_fen=case["face"],
            balance_fen=balance,
            status="active" if balance else "exhausted",
            ratio_bp=case["ratio_bp"],
            per_use_fen=case["per_use_fen"],
            per_txn_cap_fen=case["per_txn_cap_fen"],
            day_cap_fen=case["day_cap_fen"],
            day_limit_count=case["day_limit_count"],
            categories=tuple(sorted(covered)),
        )
        await world.conn.execute(
            "UPDATE voucher SET day_on = $2, day_count = $3, day_subsidy_fen = $4 WHERE id = $1",
            vid,
            day_on,
            case["used_count"],
            case["used_fen"],
        )
        people.append((ben, vid, new_uuid()))
    used = (case["used_count"], case["used_fen"]) if case["counters_from_today"] else (0, 0)
    state = VoucherState(
        balance_fen=balance,
        ratio_bp=case["ratio_bp"],
        per_use_fen=case["per_use_fen"],
        per_txn_cap_fen=case["per_txn_cap_fen"],
        day_cap_fen=case["day_cap_fen"],
        day_limit_count=case["day_limit_count"],
        used_count_today=used[0],
        used_fen_today=used[1],
        spend_region_prefix="4501",
    )
    try:
        expected = compute_split(state, gross, case["provider_region"])
    except AppError:
        expected = None
    if not {category for category, _q, _p in case["lines"]} <= covered:
        expected = None  # every line's category must be covered by the one voucher

    codes = [f"ITEM_{n}" for n in range(len(case["lines"]))]

    def redemption(ben, redemption_id):
        return lambda pool: repo.redeem(
            pool,
            beneficiary_id=ben,
            nonce=new_uuid().bytes[:8],
            nonce_expires_at=now,
            provider_kind="home_care",
            lines=repo.Lines(
                codes,
                [category for category, _q, _p in case["lines"]],
                [quantity for _c, quantity, _p in case["lines"]],
                [price for _c, _q, price in case["lines"]],
            ),
            gross_fen=gross,
            price_list_version=7,
            today=today,
            now=now,
            redemption_id=redemption_id,
            event_id=new_uuid(),
            provider_id="p",
            terminal_id="t",
            idempotency_key=str(new_uuid()),
            request_hash=b"h",
            card_id=None,
            provider_region=case["provider_region"],
        )

    calls = [redemption(ben, rid) for ben, _vid, rid in people]
    if how == "alone":
        rows = [await calls[0](world.app.state.db.raw_pool)]
    else:
        rows = await run_together(world.app.state.db.url, calls)
    for (_ben, vid, redemption_id), row in zip(people, rows, strict=True):
        await _check(
            world, case, expected, balance, gross, codes, today, used, vid, redemption_id, row
        )


async def _check(
    world, case, expected, balance, gross, codes, today, used, vid, redemption_id, row
):
    written = await world.conn.fetch(
        "SELECT line, service_code, category, quantity, unit_price_fen, amount_fen"
        " FROM redemption_item WHERE redemption_id = $1 ORDER BY line",
        redemption_id,
    )
    if expected is None:
        assert row is None
        assert await world.balance(vid) == balance
        assert written == []
        return
    assert row is not None
    lines = [
        (n + 1, codes[n], category, quantity, price, quantity * price)
        for n, (category, quantity, price) in enumerate(case["lines"])
    ]
    # a bill of one line at quantity one is its redemption row (below): no line rows
    one_line = len(lines) == 1 and lines[0][3] == 1
    assert [tuple(r) for r in written] == ([] if one_line else lines)
    red = await world.conn.fetchrow(
        "SELECT service_code, category, gross_fen, price_list_version FROM redemption"
        " WHERE id = $1",
        redemption_id,
    )
    assert tuple(red) == (codes[0], case["lines"][0][0], gross, 7)
    assert (row.subsidy_fen, row.copay_fen, row.balance_fen) == (
        expected.subsidy_fen,
        expected.copay_fen,
        expected.balance_after_fen,
    )
    after = await world.conn.fetchrow(
        "SELECT balance_fen, status, day_on, day_count, day_subsidy_fen FROM voucher WHERE id = $1",
        vid,
    )
    assert after["balance_fen"] == expected.balance_after_fen
    assert after["status"] == ("exhausted" if expected.balance_after_fen == 0 else "active")
    assert after["day_on"] == today
    assert after["day_count"] == used[0] + 1
    assert after["day_subsidy_fen"] == used[1] + expected.subsidy_fen
