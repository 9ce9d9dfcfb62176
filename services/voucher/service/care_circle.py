"""The 15-minute care circle (pure: no I/O): which people have an approved meal point within
`meal_radius_m` (1 km by default) AND an approved care provider within `care_radius_m`
(1.5 km), and the communities with the most people outside it.

Only people whose registered location is exact are judged; a location set from the
community's centre (`location_approximate`) or none at all is counted apart, neither covered
nor uncovered. A meal point is an approved provider whose price list has a `meal` item (a
助餐点, or a community facility with a canteen); a care provider is an approved provider of any
kind but `meal_point`. Providers anywhere count, not only those inside the region asked
about: a person near a district's edge is served across it.

Distances are great-circle metres (review_rules.distance_m); providers are bucketed in a grid
of `CELL_DEG` degrees so each person is compared with the providers of nearby cells only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.voucher.service.review_rules import distance_m

CELL_DEG = 0.01
_M_PER_DEG = 111_195  # metres in one degree of latitude (mean Earth radius)


@dataclass(frozen=True, slots=True)
class Located:
    """An active person as the circle sees them: their region and registered location."""

    region_code: str
    lat: float | None
    lon: float | None
    approximate: bool


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


class Grid:
    """Points bucketed by cell, to find one within a radius without comparing them all."""

    def __init__(self, points: Iterable[Point]) -> None:
        self._cells: dict[tuple[int, int], list[Point]] = defaultdict(list)
        for p in points:
            self._cells[_cell(p.lat, p.lon)].append(p)

    def any_within(self, lat: float, lon: float, radius_m: int) -> bool:
        if not self._cells:
            return False
        ci, cj = _cell(lat, lon)
        di = math.ceil(radius_m / (_M_PER_DEG * CELL_DEG))
        shrink = max(math.cos(math.radians(min(abs(lat) + di * CELL_DEG, 89.0))), 1e-6)
        dj = math.ceil(radius_m / (_M_PER_DEG * CELL_DEG * shrink))
        for i in range(ci - di, ci + di + 1):
            for j in range(cj - dj, cj + dj + 1):
                for p in self._cells.get((i, j), ()):
                    if distance_m(lat, lon, p.lat, p.lon) <= radius_m:
                        return True
        return False


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)


@dataclass
class Tally:
    """People of one area: exact locations judged (covered or not), the others apart."""

    active: int = 0
    exact: int = 0
    covered: int = 0
    meal_covered: int = 0
    care_covered: int = 0
    approximate: int = 0
    unlocated: int = 0

    @property
    def uncovered(self) -> int:
        return self.exact - self.covered

    @property
    def covered_bp(self) -> int:
        """Covered among the exactly located, basis points rounded down (0 of nobody)."""
        return self.covered * 10_000 // self.exact if self.exact else 0


@dataclass
class Circle:
    total: Tally
    by_region: dict[str, Tally] = field(default_factory=dict)  # each person's own region code


def measure(
    people: Iterable[Located],
    meal_points: Iterable[Point],
    care_points: Iterable[Point],
    *,
    meal_radius_m: int,
    care_radius_m: int,
) -> Circle:
    """Tally every person: covered when both a meal point and a care provider lie within
    their radii of an exact location; an approximate or missing location is counted apart."""
    meal, care = Grid(meal_points), Grid(care_points)
    circle = Circle(Tally())
    for person in people:
        tallies = (circle.total, circle.by_region.setdefault(person.region_code, Tally()))
        for t in tallies:
            t.active += 1
        if person.lat is None or person.lon is None:
            for t in tallies:
                t.unlocated += 1
            continue
        if person.approximate:
            for t in tallies:
                t.approximate += 1
            continue
        has_meal = meal.any_within(person.lat, person.lon, meal_radius_m)
        has_care = care.any_within(person.lat, person.lon, care_radius_m)
        for t in tallies:
            t.exact += 1
            t.meal_covered += has_meal
            t.care_covered += has_care
            t.covered += has_meal and has_care
    return circle


def most_uncovered(circle: Circle, top: int) -> list[tuple[str, Tally]]:
    """The communities (people's own region codes) with the most uncovered people: where
    the next meal point or care station should open. Ties by code; none uncovered left out."""
    ranked = sorted(
        ((code, t) for code, t in circle.by_region.items() if t.uncovered > 0),
        key=lambda item: (-item[1].uncovered, item[0]),
    )
    return ranked[:top]


def rollup(circle: Circle, digits: int) -> dict[str, Tally]:
    """The tallies of every sub-region of `digits` digits (drill-down)."""
    out: dict[str, Tally] = {}
    for code, t in circle.by_region.items():
        if len(code) < digits:
            continue
        s = out.setdefault(code[:digits], Tally())
        for name in (
            "active",
            "exact",
            "covered",
            "meal_covered",
            "care_covered",
            "approximate",
            "unlocated",
        ):
            setattr(s, name, getattr(s, name) + getattr(t, name))
    return out
