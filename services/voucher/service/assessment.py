"""Ability assessment under GB/T 42195-2022 (老年人能力评估规范): scores -> grade.

Four dimensions are scored: self-care (0-32), basic motor (0-15), mental state (0-28) and
perception & social participation (0-15); their sum (0-90) gives the preliminary grade, which
the standard's adjustments then make worse, never better.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.voucher.errors import InvalidAssessmentDate, ScoreOutOfRange

SCORE_RANGES: dict[str, int] = {
    "self_care": 32,
    "motor": 15,
    "mental": 28,
    "perception_social": 15,
}
MAX_GRADE = 4
VALIDITY_MONTHS = 12
CARE_RISK_EVENTS_THRESHOLD = 2

# total score bands -> grade: 0 capable, 1 mild, 2 moderate, 3 severe, 4 total disability
GRADE_BANDS: tuple[tuple[int, int, int], ...] = (
    (90, 90, 0),
    (66, 89, 1),
    (46, 65, 2),
    (30, 45, 3),
    (0, 29, 4),
)


@dataclass(frozen=True)
class AssessmentResult:
    total: int
    preliminary_grade: int
    grade: int
    valid_until: date


def check_scores(scores: dict[str, int]) -> None:
    """Refuse a score outside its dimension's range (field names the dimension)."""
    for name, top in SCORE_RANGES.items():
        value = scores.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
            raise ScoreOutOfRange(
                f"{name} must be an integer from 0 to {top}.", field=f"assessment.scores.{name}"
            )


def grade_of_total(total: int) -> int:
    """The preliminary grade of a total score (0..90)."""
    for low, high, grade in GRADE_BANDS:
        if low <= total <= high:
            return grade
    raise ScoreOutOfRange("The total score must be from 0 to 90.", field="assessment.scores")


def adjusted_grade(
    preliminary: int,
    *,
    coma: bool = False,
    dementia: bool = False,
    mental_disorder: bool = False,
    care_risk_events: int = 0,
) -> int:
    """The standard's adjustments, each making the grade worse, capped at 4 (total):

    - in a coma: grade 4 whatever the scores;
    - dementia or another diagnosed mental disorder: one grade worse;
    - two or more care-risk events (fall, choking, wandering, self-harm) in the last 30 days:
      one grade worse.
    The two one-grade adjustments add up (a person with both is two grades worse).
    """
    if coma:
        return MAX_GRADE
    grade = preliminary
    if dementia or mental_disorder:
        grade += 1
    if care_risk_events >= CARE_RISK_EVENTS_THRESHOLD:
        grade += 1
    return min(grade, MAX_GRADE)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def assess(
    scores: dict[str, int],
    flags: dict[str, bool | int],
    assessed_on: date,
    today: date,
    *,
    validity_months: int = VALIDITY_MONTHS,
) -> AssessmentResult:
    """Validate and grade one assessment. It is valid for `validity_months` (12 by default,
    `YIYANG_VOUCHER_ASSESSMENT_VALIDITY_MONTHS`) from the day it was made, up to the day
    before the same date that many months later."""
    check_scores(scores)
    if assessed_on > today:
        raise InvalidAssessmentDate(field="assessment.assessed_on")
    total = sum(scores[name] for name in SCORE_RANGES)
    preliminary = grade_of_total(total)
    grade = adjusted_grade(
        preliminary,
        coma=bool(flags.get("coma")),
        dementia=bool(flags.get("dementia")),
        mental_disorder=bool(flags.get("mental_disorder")),
        care_risk_events=int(flags.get("care_risk_events") or 0),
    )
    valid_until = date.fromordinal(add_months(assessed_on, validity_months).toordinal() - 1)
    return AssessmentResult(total, preliminary, grade, valid_until)


# --- a reassessment takes effect from the next period ---------------------------------------


@dataclass(frozen=True)
class GradeState:
    """What a person's row holds about their grade: the newest assessment's `grade` and
    `valid_until`, in force from the period starting `grade_from` (None = at once); before
    that, `prior_grade` / `prior_valid_until` (the assessment it replaced)."""

    grade: int | None
    valid_until: date | None
    grade_from: date | None = None
    prior_grade: int | None = None
    prior_valid_until: date | None = None


def in_force(state: GradeState, on: date) -> tuple[int | None, date | None]:
    """The grade and validity that govern a period starting `on`: the newest assessment from
    its `grade_from` on, the one it replaced before (repository/issuance.py `grade_in_force`
    is the same rule in SQL)."""
    if state.grade_from is None or state.grade_from <= on:
        return state.grade, state.valid_until
    return state.prior_grade, state.prior_valid_until


def next_period_start(today: date) -> date:
    """The first day of the period (calendar month) after today's."""
    return add_months(today.replace(day=1), 1)


def after_reassessment(state: GradeState, result: AssessmentResult, today: date) -> GradeState:
    """The row after a new (newest) assessment recorded today: it takes effect from the next
    period, so this period's eligibility (and its vouchers) stay as they were. What governs
    this period becomes the prior grade; a second reassessment in the same period replaces
    the first one's pending grade and keeps the prior one."""
    this_period = today.replace(day=1)
    prior_grade, prior_until = in_force(state, this_period)
    return GradeState(
        grade=result.grade,
        valid_until=result.valid_until,
        grade_from=next_period_start(today),
        prior_grade=prior_grade,
        prior_valid_until=prior_until,
    )


def lapsed(valid_until: date | None, on: date) -> bool:
    """An assessment lapsed by `on` (a person never assessed has nothing to lapse)."""
    return valid_until is not None and valid_until < on
