"""The region picker: the region tree (services/common/regions.py) as Chinese names to choose
from, so nobody types a division code. One `<select>` grouped by city (a county, then its
townships indented), narrowed by a search box (static/region_picker.js); it works without
script too. Used by the enrolment form, the status form's move (迁居) and the issuance form.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.regions import Region, ancestors, region_covers, regions

# The levels a person's region may have (a city or the province is too coarse).
PERSON_LEVELS = ("county", "township")
# The levels an issuance run may cover: a whole city, a county, or one township.
ISSUANCE_LEVELS = ("city", "county", "township")


@dataclass(frozen=True)
class Choice:
    code: str
    label: str  # shown in the list (townships indented under their county)
    search: str  # every name on the way down, for the search box


@dataclass(frozen=True)
class Group:
    label: str  # the city
    choices: tuple[Choice, ...]


def _path(region: Region) -> str:
    table = regions()
    return " ".join(table[c].name for c in reversed(ancestors(region.code)) if c in table)


def choices(within: str | None = None, levels: tuple[str, ...] = PERSON_LEVELS) -> list[Group]:
    """The regions of `levels` inside `within` (an officer's scope; None: the whole
    province), grouped by city, in code order."""
    table = regions()
    groups: dict[str, list[Choice]] = {}
    for code in sorted(table):
        r = table[code]
        if r.level not in levels or (within and not region_covers(within, code)):
            continue
        city = next(
            (table[c] for c in ancestors(code) if c in table and table[c].level == "city"), None
        )
        label = ("　" + r.name) if r.level == "township" else r.name
        if r.level == "township" and r.parent in table:
            label = f"　{table[r.parent].name} · {r.name}"
        groups.setdefault(city.name if city else "", []).append(
            Choice(code=code, label=label, search=_path(r))
        )
    return [Group(label=name, choices=tuple(items)) for name, items in groups.items()]


def is_choice(
    code: str, within: str | None = None, levels: tuple[str, ...] = PERSON_LEVELS
) -> bool:
    r = regions().get(code)
    return r is not None and r.level in levels and (not within or region_covers(within, code))


def centre(code: str) -> tuple[float, float] | None:
    """The centre of the most specific known region at or above `code` (lat, lon): where a
    person is placed when no device position was taken (marked approximate)."""
    table = regions()
    for c in ancestors(code):
        if c in table:
            return table[c].lat, table[c].lon
    return None
