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


def regions() -> dict[str, Region]:
    """The known divisions of the province served now (`services.common.shards.province_code`:
    the shard's, else the deployment's), from `data/regions_<PP>.csv` (45 Guangxi, 44 a part
    of Guangdong; extend them as needed). A province with no table knows no divisions."""
    from services.common.shards import province_code

    return _table(province_code()[:2])


@lru_cache
def _table(province: str) -> dict[str, Region]:
    path = resources.files("services.common").joinpath(f"data/regions_{province}.csv")
    if not path.is_file():
        return {}
    out: dict[str, Region] = {}
    for row in csv.DictReader(path.read_text("utf-8").splitlines()):
        out[row["code"]] = Region(
            code=row["code"],
            name=row["name"],
            level=row["level"],
            parent=row["parent"] or None,
            lat=float(row["lat"]),
            lon=float(row["lon"]),
        )
    return out


def table_of(code: str) -> dict[str, Region]:
    """The divisions of the province `code` lies in (whatever province is served)."""
    return _table(code[:2]) if code[:2].isdigit() else {}


def is_known(code: str) -> bool:
    return code in table_of(code)


def is_known_within(province: str, code: str) -> bool:
    """A known division (or a township or village under a known county) inside `province`:
    what a person's, an appropriation's or a commitment's region may be."""
    if not is_valid_code_shape(code) or not region_covers(province, code):
        return False
    return is_known(code) or (len(code) > 6 and is_known(code[:6]))


def region_name(code: str) -> str:
    r = table_of(code).get(code)
    return r.name if r else code


def children(code: str) -> list[Region]:
    return [r for r in table_of(code).values() if r.parent == code]
