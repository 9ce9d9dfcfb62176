"""Types shared by the services' request shapes."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

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


# Every time and date query parameter of every service is one of these.
IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number("2026-12-04T08:00:00+08:00"))]
IsoDate = Annotated[date, BeforeValidator(_not_a_number("2026-12-04"))]
