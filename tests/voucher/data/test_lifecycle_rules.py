"""The lifecycle rule (service/lifecycle_rules.py), without a database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import AppError
from services.voucher.repository.lifecycle import StayChange
from services.voucher.service.lifecycle_rules import (
    ALLOWED,
    current_state,
    in_window,
    plan,
    stays,
)

TODAY = date(2026, 12, 5)


def _plan(**over):
    args = {
        "stored_status": "active",
        "region_code": "450103",
        "paused_from": None,
        "paused_until": None,
        "status": "suspended",
        "effective_on": TODAY,
        "until": None,
        "to_region_code": None,
        "today": TODAY,
    }
    args.update(over)
    return plan(**args)


def _code(**over) -> str:
    with pytest.raises(AppError) as exc:
        _plan(**over)
    return exc.value.code


def test_a_death_is_final():
    assert ALLOWED["deceased"] == frozenset()
    for status in ALLOWED["active"] | {"active"}:
        assert _code(stored_status="deceased", status=status) == "STATUS_TRANSITION_NOT_ALLOWED"


def test_what_each_change_does():
    died = _plan(status="deceased", effective_on=TODAY - timedelta(days=30))
    assert (died.status, died.end_vouchers, died.end_proxies) == ("deceased", "revoked", True)
    moved = _plan(status="moved", to_region_code="450202")
    assert (moved.status, moved.region_code, moved.end_vouchers, moved.end_region) == (
        "active",
        "450202",
        "expired",
        "450103",
    )
    left = _plan(status="moved")
    assert (left.status, left.region_code, left.end_region) == ("moved", None, None)
    assert _plan(status="exited").end_vouchers == "revoked"
    stay = _plan(status="hospitalised", effective_on=TODAY + timedelta(days=2))
    assert (stay.status, stay.pause) == ("active", (TODAY + timedelta(days=2), None))
    back = _plan(status="active", paused_from=TODAY - timedelta(days=3), effective_on=TODAY)
    assert back.pause == (TODAY - timedelta(days=3), TODAY - timedelta(days=1))
    same_day = _plan(status="active", paused_from=TODAY, effective_on=TODAY)
    assert same_day.pause == (None, None)


def test_refusals():
    future = TODAY + timedelta(days=1)
    assert _code(status="deceased", effective_on=future) == "EFFECTIVE_DATE_IN_FUTURE"
    assert _code(status="deceased", until=TODAY) == "INVALID_VALUE"
    assert _code(status="hospitalised", effective_on=future, until=TODAY) == "INVALID_VALUE"
    assert _code(status="suspended", to_region_code="450202") == "INVALID_VALUE"
    assert _code(status="moved", to_region_code="450103") == "INVALID_VALUE"
    assert _code(status="active") == "STATUS_TRANSITION_NOT_ALLOWED"
    assert _code(stored_status="suspended", status="hospitalised") == (
        "STATUS_TRANSITION_NOT_ALLOWED"
    )


@given(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    st.integers(0, 60),
    st.one_of(st.none(), st.integers(0, 60)),
)
def test_a_stay_covers_exactly_its_days(on, start_offset, length):
    start = date(2026, 6, 1) + timedelta(days=start_offset)
    until = None if length is None else start + timedelta(days=length)
    inside = start <= on and (until is None or on <= until)
    assert in_window(start, until, on) == inside
    assert current_state("active", start, until, on) == ("hospitalised" if inside else "active")
    # a stay never hides another status
    assert current_state("suspended", start, until, on) == "suspended"


def _d(day: int) -> date:
    return date(2026, 11, day)


def test_stays_from_the_timeline():
    """The stays the anomaly rules read: as recorded, corrected, ended by a discharge or a
    death; a stay over before a later `active` is left as it was."""
    h, a, d = "hospitalised", "active", "deceased"
    assert stays([StayChange(h, _d(1), _d(5))]) == [(_d(1), _d(5))]
    # an open stay discharged on the 4th: the last day in hospital is the 3rd
    assert stays([StayChange(h, _d(1), None), StayChange(a, _d(4), None)]) == [(_d(1), _d(3))]
    # discharged on the day of admission: no stay at all
    assert stays([StayChange(h, _d(1), None), StayChange(a, _d(1), None)]) == []
    # a correction (overlapping) replaces the stay; a later, separate stay adds one
    assert stays([StayChange(h, _d(1), _d(5)), StayChange(h, _d(2), _d(6))]) == [(_d(2), _d(6))]
    assert stays([StayChange(h, _d(1), _d(5)), StayChange(h, _d(10), None)]) == [
        (_d(1), _d(5)),
        (_d(10), None),
    ]
    # `active` long after a stay (end of a suspension) leaves it; a death ends an open one
    assert stays([StayChange(h, _d(1), _d(5)), StayChange(a, _d(20), None)]) == [(_d(1), _d(5))]
    assert stays([StayChange(h, _d(1), None), StayChange(d, _d(7), None)]) == [(_d(1), _d(7))]
