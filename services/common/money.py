"""Money is integer fen (分). Never floats.

Ratios and shares are integer basis points (1/10,000), so 50% is 5000 and a 95/5 funding split
is (9500, 500). Splitting always hands out the remainder deterministically, so the parts sum to
the whole, whatever the inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

BASIS_POINTS = 10_000


def apply_ratio(amount_fen: int, ratio_bp: int) -> int:
    """ratio × amount, rounded down to the fen: a subsidy never exceeds its share of the bill."""
    if amount_fen < 0 or not 0 <= ratio_bp <= BASIS_POINTS:
        raise ValueError("amount must be >= 0 and ratio within 0..10000 basis points")
    return amount_fen * ratio_bp // BASIS_POINTS


def allocate(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split `total_fen` in proportion to integer `weights`; the parts sum to `total_fen`.

    Largest-remainder method: each part first gets the floor of its exact share; the fen left
    over go one each to the parts with the largest remainders, ties to the earlier part. The
    same inputs always give the same split. A negative total splits like its absolute value,
    negated, so a reversal mirrors the original exactly.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative and not all zero")
    if total_fen < 0:
        return [-p for p in allocate(-total_fen, weights)]
    denominator = sum(weights)
    parts = [total_fen * w // denominator for w in weights]
    remainders = [total_fen * w % denominator for w in weights]
    leftover = total_fen - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        parts[i] += 1
    return parts


def yuan(amount_fen: int) -> str:
    """For people: 12345 -> '123.45'."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(amount_fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"
