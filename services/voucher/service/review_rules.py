"""The rules of receipts, confirmations and disputes, and of home visits (pure: no I/O).

- A redemption may be confirmed or disputed by the person (or their proxy) while its review
  window is open: `created_at + review_window_days`; once (one of the two), never when voided.
- A dispute is answered by `due_at = opened_at + dispute_answer_days`; an appeal by
  `appeal_due_at = appealed_at + dispute_answer_days`. Until answered, its deadline is
  `on_track`, `at_risk` in the last `dispute_at_risk_days`, `overdue` after; then `answered`.
- A decided dispute may be appealed once, within `appeal_window_days` of the decision.
- A home visit's position counts when it lies within `visit_radius_m` of the person's
  registered location (great-circle distance); an approximate location (a community's
  centre) or none is not checked. Its length is check-out minus check-in, and a bill's
  home-visit items need at least sum(min_minutes x quantity) (service/pricing.py).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
DECISIONS = ("upheld", "partly_upheld", "rejected")
Deadline = Literal["on_track", "at_risk", "overdue", "answered"]
LocationCheck = Literal["within_radius", "approximate", "no_location"]


def local(moment: datetime) -> datetime:
    """A moment as Asia/Shanghai time, with its +08:00 offset (what receipts show)."""
    return moment.astimezone(SHANGHAI)


def review_closes_at(created_at: datetime, window_days: int) -> datetime:
    return created_at + timedelta(days=window_days)


def review_open(created_at: datetime, now: datetime, window_days: int) -> bool:
    return now < review_closes_at(created_at, window_days)


def deadline_state(
    due_at: datetime | None, now: datetime, at_risk_days: int, *, answered: bool
) -> Deadline:
    """Where an unanswered case stands against its deadline."""
    if answered or due_at is None:
        return "answered"
    if now >= due_at:
        return "overdue"
    if now >= due_at - timedelta(days=at_risk_days):
        return "at_risk"
    return "on_track"


def appeal_closes_at(decided_at: datetime, window_days: int) -> datetime:
    return decided_at + timedelta(days=window_days)


_EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Great-circle (haversine) distance in whole metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))))


def location_check(
    home_lat: float | None, home_lon: float | None, approximate: bool
) -> LocationCheck:
    """Whether a visit's position is checked against the registered home, and why not."""
    if home_lat is None or home_lon is None:
        return "no_location"
    if approximate:
        return "approximate"
    return "within_radius"


def visit_minutes(duration_s: int | None) -> int:
    """Whole minutes of a completed visit (0 when not completed)."""
    return 0 if duration_s is None else duration_s // 60
