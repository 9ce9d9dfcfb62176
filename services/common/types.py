"""Types shared by the services' request shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_8601_only(value: Any) -> Any:
    """pydantic reads a number (`0.5`, `1700000000`) as seconds since 1970; a time in a
    query (`as_of`, `from`, `to`) must be written as ISO 8601 instead."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected a date and time in ISO 8601, e.g. 2026-12-04T08:00:00+08:00")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only)]
