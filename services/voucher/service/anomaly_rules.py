"""Anomaly rules: their names, default thresholds and the tests they apply. Pure: no I/O, no
database (the detector, service/anomalies.py, reads the data and calls these).

Each rule has integer thresholds an officer may change per region (`anomaly_rule`); a
region without its own row inherits the nearest region above it that has one, else the
defaults below. docs/anomalies.md describes each rule and its defaults.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.common.regions import region_covers, significant_prefix

TERMINAL_BURST = "terminal_burst"
DISTANT_PROVIDERS = "distant_providers"
MONTH_END_DRAIN = "month_end_drain"
VOID_SHARE = "void_share"
AFTER_DEATH = "after_death"
DURING_HOSPITAL = "during_hospital"
WORKER_OVERLAP = "worker_overlap"


@dataclass(frozen=True)
class RuleSpec:
    code: str
    name: str  # shown to officers (zh-CN)
    defaults: Mapping[str, int]
    # Inclusive bounds of each threshold: a value outside is refused (VALIDATION_ERROR).
    bounds: Mapping[str, tuple[int, int]]
    subject_kind: str  # what an alert of the rule is about: terminal or beneficiary


RULES: dict[str, RuleSpec] = {
    spec.code: spec
    for spec in (
        RuleSpec(
            TERMINAL_BURST,
            "同一终端短时间内服务过多老人",
            {"max_elders": 10, "window_minutes": 10},
            {"max_elders": (1, 10_000), "window_minutes": (1, 24 * 60)},
            "terminal",
        ),
        RuleSpec(
            DISTANT_PROVIDERS,
            "同一老人短时间内在相距过远的两家机构消费",
            {"distance_km": 20, "window_minutes": 60},
            {"distance_km": (1, 5_000), "window_minutes": (1, 7 * 24 * 60)},
            "beneficiary",
        ),
        RuleSpec(
            MONTH_END_DRAIN,
            "连续数月在月末集中用尽余额",
            {"last_days": 3, "months": 3, "share_bp": 8000},
            {"last_days": (1, 15), "months": (2, 12), "share_bp": (1, 10_000)},
            "beneficiary",
        ),
        RuleSpec(
            VOID_SHARE,
            "终端撤销比例过高",
            {"share_bp": 3000, "min_redemptions": 20, "window_days": 30},
            {"share_bp": (1, 10_000), "min_redemptions": (1, 100_000), "window_days": (1, 366)},
            "terminal",
        ),
        RuleSpec(
            AFTER_DEATH,
            "死亡登记日期之后仍有消费",
            {},
            {},
            "beneficiary",
        ),
        RuleSpec(
            DURING_HOSPITAL,
            "住院期间仍有消费",
            {},
            {},
            "beneficiary",
        ),
        RuleSpec(
            WORKER_OVERLAP,
            "同一护理员同时段在两户上门服务",
            {"min_overlap_minutes": 5},
            {"min_overlap_minutes": (1, 24 * 60)},
            "worker",
        ),
    )
}


class ThresholdProblem(ValueError):
    """A threshold set an officer sent that the rule cannot take (the field is named)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate_thresholds(rule_code: str, thresholds: Mapping[str, int]) -> dict[str, int]:
    """Every threshold of the rule, each an integer within its bounds; unknown names and
    missing ones are refused (a partial update would silently keep an old value)."""
    spec = RULES[rule_code]
    unknown = sorted(set(thresholds) - set(spec.defaults))
    if unknown:
        raise ThresholdProblem(f"thresholds.{unknown[0]}", "This rule has no such threshold.")
    out: dict[str, int] = {}
    for name, (low, high) in spec.bounds.items():
        if name not in thresholds:
            raise ThresholdProblem(f"thresholds.{name}", "Every threshold must be given.")
        value = thresholds[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ThresholdProblem(f"thresholds.{name}", f"Must be an integer {low}..{high}.")
        out[name] = value
    return out


@dataclass(frozen=True)
class Setting:
    """The thresholds in force for a rule in a region, and where they come from."""

    rule_code: str
    region_code: str | None  # the configured region they come from; None = the defaults
    version: int  # 0 = the defaults
    enabled: bool
    thresholds: Mapping[str, int]


def setting_for(rule_code: str, region_code: str, configured: Iterable[Setting]) -> Setting:
    """The nearest configured region at or above `region_code` (the longest covering code)
    decides; without one, the rule's defaults apply, enabled."""
    best: Setting | None = None
    for s in configured:
        if s.rule_code != rule_code or s.region_code is None:
            continue
        if region_covers(s.region_code, region_code) and (
            best is None
            or len(significant_prefix(s.region_code))
            > len(significant_prefix(best.region_code or ""))
        ):
            best = s
    if best is not None:
        return best
    return Setting(rule_code, None, 0, True, dict(RULES[rule_code].defaults))


# --- the tests of the rules, on plain facts -----------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One redemption as the rules see it."""

    id: uuid.UUID
    at: datetime
    day_on: date
    beneficiary_id: uuid.UUID
    provider_id: str
    terminal_id: str | None
    subsidy_fen: int
    status: str
    voucher_id: uuid.UUID
    period: str
    face_fen: int


def terminal_burst(window: Sequence[Fact], *, max_elders: int) -> list[Fact] | None:
    """More than `max_elders` distinct elders served at one terminal within the window:
    the window's redemptions are the evidence."""
    elders = {f.beneficiary_id for f in window}
    return sorted(window, key=lambda f: f.at) if len(elders) > max_elders else None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (straight-line) distance between two (lat, lon) points, haversine on a
    sphere of the Earth's mean radius."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def distant_pairs(
    anchor: Fact,
    others: Sequence[Fact],
    places: Mapping[str, tuple[float, float]],
    *,
    distance_limit_km: int,
    window_minutes: int,
) -> list[tuple[Fact, Fact, float]]:
    """The anchor's redemptions at another provider, within the window of it, whose
    providers lie more than `distance_limit_km` apart (providers without a known place are
    not compared)."""
    here = places.get(anchor.provider_id)
    if here is None:
        return []
    out = []
    for other in others:
        if other.id == anchor.id or other.provider_id == anchor.provider_id:
            continue
        if abs(other.at - anchor.at) > timedelta(minutes=window_minutes):
            continue
        there = places.get(other.provider_id)
        if there is None:
            continue
        d = distance_km(here, there)
        if d > distance_limit_km:
            out.append((anchor, other, d))
    return out


def month_days(period: str) -> tuple[date, date]:
    """First and last day of a `YYYY-MM` period."""
    year, month = int(period[:4]), int(period[5:7])
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def previous_periods(period: str, count: int) -> list[str]:
    """`count` periods ending with `period`, oldest first."""
    year, month = int(period[:4]), int(period[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def in_last_days(day: date, period: str, last_days: int) -> bool:
    _, last = month_days(period)
    return last - timedelta(days=last_days - 1) <= day <= last


def drained_at_month_end(
    facts: Sequence[Fact], face_fen: int, period: str, *, last_days: int, share_bp: int
) -> list[Fact] | None:
    """A period's voucher drained at the month's end: its live redemptions in the last
    `last_days` days took at least `share_bp` of its face value (those are the evidence)."""
    late = [
        f for f in facts if f.status == "completed" and in_last_days(f.day_on, period, last_days)
    ]
    taken = sum(f.subsidy_fen for f in late)
    return late if late and taken * 10_000 >= share_bp * face_fen else None


def void_share_exceeded(
    redemptions: int, voids: int, *, share_bp: int, min_redemptions: int
) -> bool:
    """A terminal's voids exceed `share_bp` of its redemptions (voided included) in the
    window, once it has at least `min_redemptions`."""
    return redemptions >= min_redemptions and voids * 10_000 > share_bp * redemptions


def after_date(facts: Sequence[Fact], on: date) -> list[Fact]:
    """Live redemptions dated on or after `on` (a recorded date of death)."""
    return [f for f in facts if f.status == "completed" and f.day_on >= on]


def within_stays(facts: Sequence[Fact], stays: Sequence[tuple[date, date | None]]) -> list[Fact]:
    """Live redemptions dated strictly inside a hospital stay (admitted, discharged): the
    days of admission and discharge are allowed (a meal before leaving, one on return)."""
    return [
        f
        for f in facts
        if f.status == "completed"
        and any(start < f.day_on and (end is None or f.day_on < end) for start, end in stays)
    ]


@dataclass(frozen=True)
class VisitSpan:
    """A completed, billed home visit: who did it, from check-in to check-out, and the
    redemption that billed it."""

    visit_id: uuid.UUID
    redemption_id: uuid.UUID
    provider_id: str
    care_worker: str
    start: datetime
    end: datetime


def overlapping_visits(
    visit: VisitSpan, others: Sequence[VisitSpan], *, min_overlap_minutes: int
) -> list[VisitSpan]:
    """The other visits of the same care worker (same provider, same name) that overlap
    `visit` by at least `min_overlap_minutes` (a few minutes of two terminals' clocks, or of
    a walk between neighbours, is no finding)."""
    least = timedelta(minutes=min_overlap_minutes)
    return [
        o
        for o in others
        if o.visit_id != visit.visit_id
        and o.provider_id == visit.provider_id
        and o.care_worker == visit.care_worker
        and min(visit.end, o.end) - max(visit.start, o.start) >= least
    ]
