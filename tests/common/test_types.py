from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from services.common.types import IsoDate, IsoDateTime

ADAPTER = TypeAdapter(IsoDateTime)


@pytest.mark.parametrize("value", ["0.5", "1700000000", 0.5, 1700000000, " 12 ", "1e9"])
def test_a_number_is_not_a_time(value):
    with pytest.raises(ValidationError, match="ISO 8601"):
        ADAPTER.validate_python(value)


def test_iso_8601_is_read():
    assert ADAPTER.validate_python("2026-12-04T08:00:00+08:00") == datetime.fromisoformat(
        "2026-12-04T08:00:00+08:00"
    )
    assert ADAPTER.validate_python("2026-12-04").year == 2026


@pytest.mark.parametrize("value", ["0", "86400", 0, 86400.0, "1e5"])
def test_a_number_is_not_a_date(value):
    with pytest.raises(ValidationError, match="ISO 8601"):
        TypeAdapter(IsoDate).validate_python(value)


def test_an_iso_date_is_read():
    assert TypeAdapter(IsoDate).validate_python("2026-12-04") == date(2026, 12, 4)
