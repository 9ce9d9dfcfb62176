"""The quarterly spot reassessment draw (pure: no I/O).

Feigned disability is the most common assessment fraud, so each quarter a share of a region's
active people is drawn at random for a reassessment. The draw is reproducible: given the
region, the quarter, the recorded seed and the people who could be drawn, anyone gets the
same people again (`draw`), and `population_hash` fingerprints that population so an auditor
can tell it is the same one.

How: each person's key is HMAC-SHA256(seed, "<region>|<quarter>|<person id>"); the people are
ordered by key (then id) and the first `draw_size(population, share_bp)` are drawn, rank 1
first. Without the seed nobody can predict who is drawn; with it, anyone can check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import date

from services.voucher.errors import InvalidValue

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def quarter_of(day: date) -> str:
    """The quarter a day lies in, as 'YYYY-Qn'."""
    return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"


def check_quarter(quarter: str) -> str:
    if not _QUARTER.match(quarter):
        raise InvalidValue("quarter: YYYY-Qn, for example 2026-Q4.", field="quarter")
    return quarter


def draw_size(population: int, share_bp: int) -> int:
    """How many of `population` a share in basis points draws: rounded up, so a region with
    anyone in it draws at least one; never more than the population."""
    if population <= 0:
        return 0
    return min(population, (population * share_bp + 9_999) // 10_000)


def draw_key(seed: str, region_code: str, quarter: str, person: uuid.UUID) -> bytes:
    message = f"{region_code}|{quarter}|{person}".encode()
    return hmac.new(seed.encode(), message, hashlib.sha256).digest()


def draw(
    population: list[uuid.UUID], *, seed: str, region_code: str, quarter: str, share_bp: int
) -> list[uuid.UUID]:
    """The people drawn, in draw order: the same inputs always give the same list, whatever
    order the population comes in."""
    ordered = sorted(
        set(population), key=lambda p: (draw_key(seed, region_code, quarter, p), p.bytes)
    )
    return ordered[: draw_size(len(ordered), share_bp)]


def population_hash(population: list[uuid.UUID]) -> str:
    """SHA-256 (hex) of the sorted ids, one a line: names the population a draw was made from."""
    lines = "\n".join(sorted(str(p) for p in set(population)))
    return hashlib.sha256(lines.encode()).hexdigest()
