"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): pure, no I/O.

SHA-1, 30-second steps, 6 digits, as every authenticator app reads an `otpauth://totp/` URI
by default. A code is accepted for the step it was made in and one step either side (a phone
clock a little off, a code typed as it changes), and each step at most once: `verify` is
given the last step accepted for the account and refuses that step and every earlier one, so
a code seen over someone's shoulder cannot be used again (RFC 6238 section 5.2).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
SECRET_BYTES = 20  # 160 bits, the length RFC 4226 recommends for HMAC-SHA-1


def new_secret() -> str:
    """A fresh shared secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    cleaned = secret_b32.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: HMAC of the 8-byte counter, dynamically truncated to `digits` digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_S)


def code_at(secret_b32: str, unix_time: float) -> str:
    """The code an authenticator shows at `unix_time`."""
    return hotp(_key(secret_b32), step_at(unix_time))


def verify(secret_b32: str, code: str, unix_time: float, last_step: int | None) -> int | None:
    """The step `code` belongs to if it is accepted now (within the window and later than
    `last_step`), else None. The caller stores the step so it cannot be used twice."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = _key(secret_b32)
    now = step_at(unix_time)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def otpauth_uri(secret_b32: str, account: str, issuer: str) -> str:
    """`otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...` (Google Authenticator's key URI
    format), which the enrolment page shows as a QR code."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {
            "secret": secret_b32,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_S,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
