"""Aging of approved-but-unpaid claims (pure; docs/settlement.md, "Aging").

Rule: each approved (or batched) unpaid claim is counted in the bucket of the whole days it
has waited since approval: 0-30, 31-60, 61-90, over 90.
"""

from __future__ import annotations

from typing import Literal

BucketKey = Literal["0_30_fen", "31_60_fen", "61_90_fen", "over_90_fen"]

# (the bucket's amount key, the last day it holds; None: no end)
BUCKETS: tuple[tuple[BucketKey, int | None], ...] = (
    ("0_30_fen", 30),
    ("31_60_fen", 60),
    ("61_90_fen", 90),
    ("over_90_fen", None),
)


def bucket_of(days: int) -> BucketKey:
    """The bucket a claim that has waited `days` whole days falls in."""
    for key, upper in BUCKETS:
        if upper is None or days <= upper:
            return key
    raise AssertionError("unreachable")
