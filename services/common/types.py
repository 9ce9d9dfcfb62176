"""Types shared by the services' request shapes."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(example: str) -> Any:
    """pydantic reads a number (`0.5`, `1700000000`, `0`) as seconds since 1970, for a date
    as for a time; a time or date in a query (`as_of`, `from`, `to`, `date`) must be written
    as ISO 8601 instead."""

    def check(value: Any) -> Any:
        if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise ValueError(f"expected ISO 8601, e.g. {example}")
        return value

    return check


# The years a time, a date or a month may name: far enough either way for any person's or
# programme's dates, near enough that a month's arithmetic (a trend a year back, the next
# month's first instant, a zone's offset) never leaves Python's dates.
MIN_YEAR, MAX_YEAR = 1900, 2999
# A month (`period`) of a programme or a claim: YYYY-MM, this century.
PERIOD_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"


def _in_range(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


# Every time and date query parameter of every service is one of these.
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_not_a_number("2026-12-04T08:00:00+08:00")),
    AfterValidator(_in_range),
]
IsoDate = Annotated[date, BeforeValidator(_not_a_number("2026-12-04")), AfterValidator(_in_range)]
