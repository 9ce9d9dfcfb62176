"""Periods and validity windows (pure: no I/O). A program pays per calendar month in the
service's time zone (Asia/Shanghai); a voucher is valid for its month, no carry-over."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.common.settings import get_common_settings
from services.common.types import PERIOD_PATTERN
from services.voucher.errors import InvalidPeriod
from services.voucher.service.assessment import add_months

_PERIOD = re.compile(PERIOD_PATTERN)


def tz() -> ZoneInfo:
    return ZoneInfo(get_common_settings().timezone)


def parse_period(period: str) -> date:
    """`YYYY-MM` -> its first day; INVALID_PERIOD otherwise."""
    match = _PERIOD.match(period or "")
    if not match:
        raise InvalidPeriod(field="period")
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def current_period(now: datetime | None = None) -> str:
    local = (now or datetime.now(tz())).astimezone(tz())
    return f"{local.year:04d}-{local.month:02d}"


def window(period: str) -> tuple[datetime, datetime]:
    """A monthly voucher is valid from the first instant of the calendar month (Asia/Shanghai)
    to the first instant of the next one (exclusive): no carry-over."""
    first = parse_period(period)
    nxt = add_months(first, 1)
    zone = tz()
    return (
        datetime(first.year, first.month, 1, tzinfo=zone),
        datetime(nxt.year, nxt.month, 1, tzinfo=zone),
    )


def scheduled_at(period: str, day: int = 1, hour: int = 1) -> datetime:
    """When a period's scheduled issuance is due: `day` of the month at `hour` o'clock in the
    service's time zone (by default the first at 01:00, Asia/Shanghai)."""
    first = parse_period(period)
    return datetime(first.year, first.month, day, hour, tzinfo=tz())


def due_period(now: datetime, day: int = 1, hour: int = 1) -> str | None:
    """The period whose scheduled issuance is due at `now` (the current month once its time
    has come), or None before it. Past months are never issued late: their vouchers would
    already have lapsed."""
    period = current_period(now)
    return period if now >= scheduled_at(period, day, hour) else None
