"""Unified social credit code (统一社会信用代码), GB 32100-2015.

Eighteen characters from a 31-character alphabet (digits and capitals without I, O, Z, S, V):
registration authority (1), organisation type (1), administrative division of registration
(6 digits, GB/T 2260), organisation identifier (9), check character (1). The check character
is the one that makes sum(value(c_i) * 3^(i-1) mod 31) + value(check) a multiple of 31.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# 3^(i-1) mod 31 for positions 1..17, as the standard tabulates them.
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18


def check_character(body: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(body) != 17 or any(ch not in _VALUE for ch in body):
        raise ValueError("the body must be 17 characters of the GB 32100 alphabet")
    total = sum(_VALUE[ch] * w for ch, w in zip(body, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: object) -> str | None:
    """Why `code` is not a valid unified social credit code, or None if it is."""
    if not isinstance(code, str) or len(code) != LENGTH:
        return "must be 18 characters"
    if any(ch not in _VALUE for ch in code):
        return "may hold only digits and capital letters other than I, O, Z, S, V"
    if not code[2:8].isdigit():
        return "characters 3 to 8 must be the administrative division code"
    if check_character(code[:17]) != code[17]:
        return "the check character does not match"
    return None


def is_valid(code: object) -> bool:
    return problem(code) is None
