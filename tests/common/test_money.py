import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.money import allocate, apply_ratio, yuan


@given(st.integers(-(10**12), 10**12), st.lists(st.integers(0, 10_000), min_size=1, max_size=6))
def test_allocate_parts_sum_to_the_whole_and_stay_within_one_fen(total, weights):
    if sum(weights) == 0:
        with pytest.raises(ValueError):
            allocate(total, weights)
        return
    parts = allocate(total, weights)
    assert sum(parts) == total
    for part, w in zip(parts, weights):
        exact = total * w / sum(weights)
        assert abs(part - exact) < 1


def test_allocate_is_deterministic_and_ties_go_to_the_earlier_part():
    assert allocate(1, [1, 1]) == [1, 0]
    assert allocate(101, [9500, 500]) == [96, 5]
    assert allocate(-101, [9500, 500]) == [-96, -5]
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]


def test_apply_ratio_rounds_down_and_refuses_nonsense():
    assert apply_ratio(999, 5000) == 499
    assert apply_ratio(0, 4000) == 0
    with pytest.raises(ValueError):
        apply_ratio(-1, 5000)
    with pytest.raises(ValueError):
        apply_ratio(100, 10_001)


def test_yuan_formats_for_people():
    assert yuan(1234567) == "12,345.67"
    assert yuan(-5) == "-0.05"
