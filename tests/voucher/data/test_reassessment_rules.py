"""The pure rules of reassessment: which grade governs a period, what a reassessment does
to it, and the spot draw (sizes, quarters, reproducibility)."""

from __future__ import annotations

import uuid
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.voucher.service import spot_rules
from services.voucher.service.assessment import (
    AssessmentResult,
    GradeState,
    after_reassessment,
    assess,
    in_force,
    next_period_start,
)

SCORES = {"self_care": 15, "motor": 8, "mental": 10, "perception_social": 7}


def test_validity_is_configurable():
    assert assess(SCORES, {}, date(2026, 1, 15), date(2026, 2, 1)).valid_until == date(2027, 1, 14)
    six = assess(SCORES, {}, date(2026, 1, 15), date(2026, 2, 1), validity_months=6)
    assert six.valid_until == date(2026, 7, 14)


def test_a_reassessment_governs_from_the_next_period():
    start = GradeState(grade=3, valid_until=date(2026, 12, 20))
    new = AssessmentResult(85, 1, 1, date(2027, 12, 9))
    after = after_reassessment(start, new, date(2026, 12, 10))
    assert after.grade_from == date(2027, 1, 1) == next_period_start(date(2026, 12, 31))
    assert in_force(after, date(2026, 12, 1)) == (3, date(2026, 12, 20))
    assert in_force(after, date(2027, 1, 1)) == (1, date(2027, 12, 9))
    # a second one in the same period replaces the pending grade, keeps the prior
    again = after_reassessment(
        after, AssessmentResult(40, 3, 4, date(2027, 12, 19)), date(2026, 12, 20)
    )
    assert (again.grade, again.prior_grade, again.grade_from) == (4, 3, date(2027, 1, 1))
    # next month, the pending grade is in force and becomes the prior one
    later = after_reassessment(again, new, date(2027, 1, 5))
    assert (later.prior_grade, later.prior_valid_until) == (4, date(2027, 12, 19))
    assert later.grade_from == date(2027, 2, 1)


def test_quarters_and_sizes():
    assert spot_rules.quarter_of(date(2026, 12, 4)) == "2026-Q4"
    assert spot_rules.quarter_of(date(2027, 1, 1)) == "2027-Q1"
    assert spot_rules.draw_size(0, 300) == 0
    assert spot_rules.draw_size(1, 300) == 1
    assert spot_rules.draw_size(100, 300) == 3
    assert spot_rules.draw_size(101, 300) == 4
    assert spot_rules.draw_size(5, 10_000) == 5


@given(st.lists(st.uuids(), min_size=0, max_size=60, unique=True), st.integers(1, 10_000))
def test_the_draw_is_reproducible_and_order_free(people: list[uuid.UUID], share: int) -> None:
    kw = {"seed": "s33d-s33d", "region_code": "450103", "quarter": "2026-Q4", "share_bp": share}
    first = spot_rules.draw(people, **kw)  # type: ignore[arg-type]
    assert first == spot_rules.draw(list(reversed(people)), **kw)  # type: ignore[arg-type]
    assert len(first) == spot_rules.draw_size(len(people), share)
    assert set(first) <= set(people)
    assert spot_rules.population_hash(people) == spot_rules.population_hash(people[::-1])


def test_another_seed_or_quarter_draws_others():
    people = [uuid.UUID(int=i) for i in range(200)]
    base = spot_rules.draw(
        people, seed="a" * 16, region_code="450103", quarter="2026-Q4", share_bp=500
    )
    assert base != spot_rules.draw(
        people, seed="b" * 16, region_code="450103", quarter="2026-Q4", share_bp=500
    )
    assert base != spot_rules.draw(
        people, seed="a" * 16, region_code="450103", quarter="2027-Q1", share_bp=500
    )
