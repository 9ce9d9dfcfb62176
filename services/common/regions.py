"""Administrative divisions (GB/T 2260, extended to township and village codes).

A code's level shows in its digits: 45 0000 province, 4501 00 city, 450103 county, then three
more digits for a township (450103001) and three more for a village. A scope covers every code
that starts with its significant prefix, so an officer of 450100 (Nanning) covers 450103 and
450103001 but not 450200.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str
    parent: str | None
    lat: float
    lon: float


def significant_prefix(code: str) -> str:
    if len(code) == 6 and code.isdigit():
        if code.endswith("0000"):
            return code[:2]
        if code.endswith("00"):
            return code[:4]
        return code
    return code


def is_valid_code_shape(code: str) -> bool:
    return isinstance(code, str) and code.isdigit() and len(code) in (6, 9, 12)


def region_covers(scope: str, code: str) -> bool:
    """Does an authority over `scope` extend to `code`? (A region covers itself.)"""
    if not (is_valid_code_shape(scope) and is_valid_code_shape(code)):
        return False
    return code.startswith(significant_prefix(scope))


def parent_code(code: str) -> str | None:
    if len(code) == 12:
        return code[:9]
    if len(code) == 9:
        return code[:6]
    if code.endswith("0000"):
        return None
    if code.endswith("00"):
        return code[:2] + "0000"
    return code[:4] + "00"


def ancestors(code: str) -> list[str]:
    """The code itself, then its parent, up to the province: most specific first."""
    out: list[str] = []
    current: str | None = code
    while current:
        out.append(current)
        current = parent_code(current)
    return out


@lru_cache
def regions() -> dict[str, Region]:
    """The known divisions, from `data/regions.csv` (Guangxi; extend it as needed)."""
    text = resources.files("services.common").joinpath("data/regions.csv").read_text("utf-8")
    out: dict[str, Region] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["code"]] = Region(
            code=row["code"],
            name=row["name"],
            level=row["level"],
            parent=row["parent"] or None,
            lat=float(row["lat"]),
            lon=float(row["lon"]),
        )
    return out


def is_known(code: str) -> bool:
    return code in regions()


def is_known_within(province: str, code: str) -> bool:
    """A known division (or a township or village under a known county) inside `province`:
    what a person's, an appropriation's or a commitment's region may be."""
    if not is_valid_code_shape(code) or not region_covers(province, code):
        return False
    return is_known(code) or (len(code) > 6 and is_known(code[:6]))


def region_name(code: str) -> str:
    r = regions().get(code)
    return r.name if r else code


def children(code: str) -> list[Region]:
    return [r for r in regions().values() if r.parent == code]
