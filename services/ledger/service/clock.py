"""The ledger's time: Beijing time (Asia/Shanghai, no daylight saving), in which its periods,
days and snapshots are counted, and in which every instant it answers is written."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def iso(value: datetime | None) -> str | None:
    """An instant as the ledger answers it: Beijing time with its offset and always six
    decimals (`2026-11-05T09:30:00.000000+08:00`), whatever zone it was read in; the hashes
    write the same instant in UTC (service/hashing.py)."""
    if value is None:
        return None
    return value.astimezone(TZ).isoformat(timespec="microseconds")
