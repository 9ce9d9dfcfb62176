"""The redemption rule as properties (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import AppError
from services.voucher.service.redemption import VoucherState, compute_split

optional_fen = st.none() | st.integers(0, 200_000)

voucher_states = st.builds(
    VoucherState,
    balance_fen=st.integers(0, 200_000),
    ratio_bp=st.none() | st.integers(0, 10_000),
    per_use_fen=st.none() | st.integers(1, 3_000),
    per_txn_cap_fen=optional_fen,
    day_cap_fen=optional_fen,
    day_limit_count=st.none() | st.integers(0, 5),
    used_count_today=st.integers(0, 6),
    used_fen_today=st.integers(0, 200_000),
)
bills = st.integers(1, 1_000_000)


@given(voucher_states, bills)
def test_subsidy_respects_every_bound_or_is_refused_with_a_stable_code(v, gross):
    try:
        split = compute_split(v, gross)
    except AppError as exc:
        assert exc.code in {"VOUCHER_EXHAUSTED", "DAILY_LIMIT_REACHED", "BILL_TOO_SMALL"}
        return
    s = split.subsidy_fen
    assert s > 0
    assert s + split.copay_fen == gross and split.copay_fen >= 0
    assert s <= v.balance_fen and split.balance_after_fen == v.balance_fen - s
    if v.per_use_fen is None:
        ratio = 10_000 if v.ratio_bp is None else v.ratio_bp
        assert s * 10_000 <= ratio * gross  # subsidy <= ratio × bill, exactly, in integers
    else:
        assert s <= v.per_use_fen and gross > v.per_use_fen
    if v.per_txn_cap_fen is not None:
        assert s <= v.per_txn_cap_fen
    if v.day_cap_fen is not None:
        assert v.used_fen_today + s <= v.day_cap_fen
    if v.day_limit_count is not None:
        assert v.used_count_today < v.day_limit_count


@given(voucher_states, bills)
def test_subsidy_is_the_largest_amount_the_bounds_allow(v, gross):
    """Not just within the bounds: min(ratio × bill, balance, caps), nothing lower."""
    try:
        s = compute_split(v, gross).subsidy_fen
    except AppError:
        return
    want = (
        v.per_use_fen
        if v.per_use_fen is not None
        else gross * (10_000 if v.ratio_bp is None else v.ratio_bp) // 10_000
    )
    bounds = [want, v.balance_fen]
    if v.per_txn_cap_fen is not None:
        bounds.append(v.per_txn_cap_fen)
    if v.day_cap_fen is not None:
        bounds.append(v.day_cap_fen - v.used_fen_today)
    assert s == min(bounds)


def test_disability_example_half_of_a_home_care_bill():
    split = compute_split(VoucherState(balance_fen=50_000, ratio_bp=5000), 8001)
    assert (split.subsidy_fen, split.copay_fen, split.balance_after_fen) == (4000, 4001, 46000)


def test_balance_binds_before_the_ratio():
    split = compute_split(VoucherState(balance_fen=1000, ratio_bp=4000), 100_000)
    assert (split.subsidy_fen, split.copay_fen) == (1000, 99_000)


@pytest.mark.parametrize(
    "state,gross,code",
    [
        (VoucherState(balance_fen=0, ratio_bp=5000), 1000, "VOUCHER_EXHAUSTED"),
        (
            VoucherState(balance_fen=5000, per_use_fen=500, day_limit_count=2, used_count_today=2),
            1500,
            "DAILY_LIMIT_REACHED",
        ),
        (
            VoucherState(balance_fen=5000, ratio_bp=5000, day_cap_fen=1000, used_fen_today=1000),
            1500,
            "DAILY_LIMIT_REACHED",
        ),
        (VoucherState(balance_fen=5000, per_use_fen=500), 500, "BILL_TOO_SMALL"),
        (VoucherState(balance_fen=5000, ratio_bp=5000), 1, "BILL_TOO_SMALL"),
    ],
)
def test_refusals(state, gross, code):
    with pytest.raises(AppError) as exc:
        compute_split(state, gross)
    assert exc.value.code == code


def test_refusals_carry_the_figure_they_were_refused_on():
    """The limit that refused a bill, so the counter can say it: a day's count, a day's
    cap, or the per-use subsidy a bill must exceed."""
    cases = [
        (
            VoucherState(balance_fen=5000, per_use_fen=500, day_limit_count=2, used_count_today=2),
            1500,
            {"day_limit_count": 2},
        ),
        (
            VoucherState(balance_fen=5000, ratio_bp=5000, day_cap_fen=1000, used_fen_today=1000),
            1500,
            {"day_cap_fen": 1000},
        ),
        (VoucherState(balance_fen=5000, per_use_fen=500), 400, {"per_use_fen": 500}),
    ]
    for state, gross, details in cases:
        with pytest.raises(AppError) as exc:
            compute_split(state, gross)
        assert exc.value.details == details


def test_meal_subsidy_is_the_per_use_amount_when_the_bill_exceeds_it():
    split = compute_split(
        VoucherState(balance_fen=15_500, per_use_fen=500, day_limit_count=2, used_count_today=1),
        1500,
    )
    assert (split.subsidy_fen, split.copay_fen) == (500, 1000)
