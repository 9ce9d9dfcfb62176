"""Pure rules without a database: the GB/T 42195-2022 grade table and every adjustment, the
GB 11643 national ID, program configuration validation."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.voucher.errors import InvalidAssessmentDate, InvalidNationalId, ScoreOutOfRange
from services.voucher.schemas.programs import ProgramConfig
from services.voucher.service.assessment import adjusted_grade, assess, grade_of_total
from services.voucher.service.eligibility import age_on, is_eligible
from services.voucher.service.identity import check_digit, parse_national_id
from services.voucher.service.programs import DEFAULT_PROGRAMS

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    "total,grade", [(90, 0), (89, 1), (66, 1), (65, 2), (46, 2), (45, 3), (30, 3), (29, 4), (0, 4)]
)
def test_grade_table_bands_and_their_edges(total, grade):
    assert grade_of_total(total) == grade


def scores_for(total: int) -> dict[str, int]:
    out = {}
    for name, top in (("self_care", 32), ("motor", 15), ("mental", 28), ("perception_social", 15)):
        out[name] = min(top, total)
        total -= out[name]
    return out


def test_coma_is_total_disability_whatever_the_scores():
    assert assess(scores_for(90), {"coma": True}, TODAY, TODAY).grade == 4
    assert adjusted_grade(0, coma=True) == 4


@pytest.mark.parametrize("flag", ["dementia", "mental_disorder"])
def test_dementia_or_mental_disorder_is_one_grade_worse(flag):
    assert assess(scores_for(70), {flag: True}, TODAY, TODAY).grade == 2  # 1 -> 2
    assert assess(scores_for(50), {flag: True}, TODAY, TODAY).grade == 3  # 2 -> 3


def test_two_or_more_care_risk_events_in_30_days_is_one_grade_worse():
    assert assess(scores_for(70), {"care_risk_events": 1}, TODAY, TODAY).grade == 1
    assert assess(scores_for(70), {"care_risk_events": 2}, TODAY, TODAY).grade == 2
    assert assess(scores_for(70), {"care_risk_events": 5}, TODAY, TODAY).grade == 2


def test_adjustments_add_up_and_are_capped_at_total_disability():
    assert adjusted_grade(1, dementia=True, care_risk_events=2) == 3
    assert adjusted_grade(3, dementia=True, care_risk_events=2) == 4
    assert adjusted_grade(4, mental_disorder=True) == 4
    # both mental flags are one adjustment, not two
    assert adjusted_grade(1, dementia=True, mental_disorder=True) == 2


@pytest.mark.parametrize(
    "name,bad",
    [
        ("self_care", 33),
        ("self_care", -1),
        ("motor", 16),
        ("mental", 29),
        ("perception_social", 16),
        ("motor", True),
    ],
)
def test_out_of_range_scores_are_refused_naming_the_dimension(name, bad):
    scores = scores_for(40)
    scores[name] = bad
    with pytest.raises(ScoreOutOfRange) as err:
        assess(scores, {}, TODAY, TODAY)
    assert err.value.field == f"assessment.scores.{name}"


def test_assessment_is_valid_twelve_months_and_not_from_the_future():
    assert assess(scores_for(40), {}, date(2026, 1, 15), TODAY).valid_until == date(2027, 1, 14)
    assert assess(scores_for(40), {}, date(2024, 2, 29), TODAY).valid_until == date(2025, 2, 27)
    with pytest.raises(InvalidAssessmentDate):
        assess(scores_for(40), {}, date(2026, 11, 24), TODAY)


@given(
    st.integers(0, 32),
    st.integers(0, 15),
    st.integers(0, 28),
    st.integers(0, 15),
    st.booleans(),
    st.booleans(),
    st.integers(0, 10),
)
def test_grade_is_always_0_to_4_and_never_better_than_the_table(a, b, c, d, dem, coma, risk):
    scores = {"self_care": a, "motor": b, "mental": c, "perception_social": d}
    r = assess(scores, {"dementia": dem, "coma": coma, "care_risk_events": risk}, TODAY, TODAY)
    assert 0 <= r.grade <= 4
    assert r.total == a + b + c + d
    assert r.grade >= grade_of_total(r.total)


# --- national ID ---------------------------------------------------------------------------


def test_check_digit_of_the_standard_example():
    # GB 11643 worked example: 11010519491231002 -> X
    assert check_digit("11010519491231002") == "X"
    nid = parse_national_id("11010519491231002x", TODAY)
    assert nid.value.endswith("X")
    assert nid.birth_on == date(1949, 12, 31)
    assert nid.sex == "F"  # 17th digit 2 is even


def test_sex_and_birth_date_derive_from_the_id():
    first17 = "45010319500315001"
    nid = parse_national_id(first17 + check_digit(first17), TODAY)
    assert (nid.birth_on, nid.sex) == (date(1950, 3, 15), "M")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "123",
        "4501031950031500",
        "45010319500315001Y",
        "A50103195003150011",
        "450103195002300011",  # 30 February
        "450103209901010011",  # born in the future
    ],
)
def test_malformed_ids_are_refused(bad):
    with pytest.raises(InvalidNationalId) as err:
        parse_national_id(bad, TODAY)
    assert err.value.field == "national_id"


def test_wrong_check_digit_is_refused():
    first17 = "45010319500315001"
    good = check_digit(first17)
    wrong = "0" if good != "0" else "1"
    with pytest.raises(InvalidNationalId):
        parse_national_id(first17 + wrong, TODAY)


# --- programs ------------------------------------------------------------------------------


def test_defaults_follow_the_policy():
    d = DEFAULT_PROGRAMS["disability_subsidy"]
    assert (d.settings["institution"].face_fen, d.settings["institution"].ratio_bp) == (80000, 4000)
    assert (d.settings["home"].face_fen, d.settings["home"].ratio_bp) == (50000, 5000)
    assert d.funding_shares == {"central": 9500, "regional": 500}
    m = DEFAULT_PROGRAMS["meal_assistance"]
    assert (m.kind, m.per_use_fen, m.day_limit_count, m.allowed_kinds) == (
        "per_use",
        500,
        2,
        ["meal_point"],
    )
    assert m.settings["home"].face_fen == 500 * 2 * 31 and m.settings["home"].categories == ["meal"]
    assert m.priority < d.priority
    n = DEFAULT_PROGRAMS["nursing_subsidy"]
    assert (
        n.kind,
        n.settings["home"].face_fen,
        n.eligibility.min_age,
        n.eligibility.dibao_required,
    ) == ("cash_benefit", 20000, 70, True)


def test_eligibility_rule():
    cfg = DEFAULT_PROGRAMS["nursing_subsidy"]
    base = {
        "birth_on": date(1950, 1, 1),
        "grade": 3,
        "grade_valid_until": date(2027, 1, 1),
        "dibao": True,
        "care_setting": "home",
        "region_code": "450103",
        "status": "active",
        "on": date(2026, 11, 1),
    }
    assert is_eligible(cfg, **base)
    assert not is_eligible(cfg, **{**base, "dibao": False})
    assert not is_eligible(cfg, **{**base, "birth_on": date(1957, 1, 1)})  # 69
    assert not is_eligible(cfg, **{**base, "grade": 1})
    assert not is_eligible(cfg, **{**base, "grade_valid_until": date(2026, 10, 31)})
    assert not is_eligible(cfg, **{**base, "status": "deceased"})
    assert age_on(date(1956, 11, 2), date(2026, 11, 1)) == 69


@pytest.mark.parametrize(
    "change",
    [
        {"funding_shares": {"central": 9000, "regional": 500}},
        {"funding_shares": {"Central": 10000}},
        {"settings": {}},
        {"settings": {"home": {"face_fen": 0, "ratio_bp": 5000, "categories": ["meal"]}}},
        {"settings": {"home": {"face_fen": 100, "ratio_bp": 10001, "categories": ["meal"]}}},
        {"settings": {"home": {"face_fen": 100, "ratio_bp": 5000, "categories": ["golf"]}}},
        {"settings": {"home": {"face_fen": 100, "categories": ["meal"]}}},  # voucher needs a ratio
        {"allowed_kinds": ["casino"]},
        {"eligibility": {"grades": [7]}},
        {"surprise": 1},
    ],
)
def test_invalid_program_configs_are_refused(change):
    base = DEFAULT_PROGRAMS["disability_subsidy"].model_dump(mode="json")
    with pytest.raises(ValidationError):
        ProgramConfig.model_validate({**base, **change})
