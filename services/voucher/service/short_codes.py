"""The short numeric payment code (like the digits printed under a mobile-payment QR code).

A phone's QR token is 151 characters: nobody types that when a scanner fails. So every
dynamic code also gets a short numeric code of `short_code_digits` (12-18) random digits,
shown under the QR, bound to that very token: a terminal sends the digits in place of the
token (`token` in POST /v1/redemptions and /preview) and the service redeems the token they
stand for. The rules:

- **bound and one-time**: the digits resolve to exactly one token, so everything the token
  carries holds for them too: its expiry, and its nonce accepted once (a second use is
  TOKEN_USED, a retry with the same idempotency key answers the first redemption);
- **unguessable in practice**: drawn with `secrets` from 10^digits values, of which only the
  codes of the last minute or so exist; only a SHA-256 of the digits is stored;
- **rate-limited**: each wrong code typed at a provider counts in a window
  (`short_code_window_s`); past `short_code_max_failures` in the window every numeric code is
  refused there (429 SHORT_CODE_LOCKED), the right one too, until the window ends. Guessing
  therefore gets at most that many tries per window per provider: with 18 digits and about a
  hundred live codes, the chance of a hit in a day of tries is below 10^-12.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from services.common.db import Database
from services.voucher.errors import ShortCodeLocked, ShortCodeUnknown
from services.voucher.repository import codes as repo

_DIGITS = re.compile(r"^[0-9]{12,18}$")
_SPACING = re.compile(r"[\s-]")


def normalise(text: str) -> str | None:
    """The digits of a typed short code (spaces and dashes dropped), or None when `text` is
    not one (a QR token is letters and digits, never 12-18 digits only)."""
    digits = _SPACING.sub("", text or "")
    return digits if _DIGITS.match(digits) else None


def new_digits(length: int) -> str:
    return f"{secrets.randbelow(10**length):0{length}d}"


def digest(digits: str) -> bytes:
    return hashlib.sha256(digits.encode("ascii")).digest()


def grouped(digits: str) -> str:
    """`1234 5678 9012 3456 78`: how the phone shows it, in fours, to read out and type."""
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


async def issue(db: Database, token: str, expires_at: datetime, length: int) -> str:
    """Draw digits for `token` and keep them until it expires (drawn again on the rare
    collision with a live code)."""
    for _ in range(8):
        digits = new_digits(length)
        async with db.unit_of_work() as session:
            if await repo.insert_short_code(session, digest(digits), token, expires_at):
                return digits
    raise RuntimeError("no free short code after 8 draws")  # 10^12+ values: never


async def resolve(
    db: Database,
    provider_id: str,
    digits: str,
    *,
    max_failures: int,
    window_s: int,
    now: datetime | None = None,
) -> str:
    """The token that `digits` stand for, typed at `provider_id`. Refused with
    SHORT_CODE_LOCKED while the provider is over its wrong-code limit (checked first, so a
    right guess is refused too), else SHORT_CODE_UNKNOWN for digits that stand for nothing
    (counted)."""
    now = now or datetime.now(UTC)
    window_from = now - timedelta(seconds=window_s)
    async with db.unit_of_work() as session:
        if await repo.short_code_failures(session, provider_id, window_from) >= max_failures:
            raise ShortCodeLocked(field="token")
        token = await repo.short_code_token(session, digest(digits))
    if token is not None:
        return token
    async with db.unit_of_work() as session:  # committed: the refusal below must not undo it
        failures = await repo.record_short_code_failure(session, provider_id, now, window_from)
    if failures > max_failures:
        raise ShortCodeLocked(field="token")
    raise ShortCodeUnknown(field="token")


async def purge(db: Database, before: datetime) -> int:
    async with db.unit_of_work() as session:
        return await repo.purge_short_codes(session, before)
