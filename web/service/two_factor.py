"""Two-factor sign-in (TOTP) for officers, finance, auditors and administrators.

Enrolment: the page shows a QR code of an `otpauth://` URI (and the secret as text, for an
app that cannot scan); the person's first code confirms it; ten one-time recovery codes are
then shown once (only their keyed hashes are kept). At sign-in, after the password, a code
from the app or a recovery code (each usable once). The secret is encrypted at rest with the
web's personal-data key; an administrator can reset it, and the person enrols again at the
next sign-in.
"""

from __future__ import annotations

import base64
import io
import secrets

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy.ext.asyncio import AsyncSession

from web.models import WebUser
from web.repository import sessions as session_repo
from web.repository import users as repo
from web.service import audit, totp
from web.service.context import Identity

ISSUER = "颐养"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def _context(user: WebUser) -> bytes:
    return b"web_user.totp_secret:" + user.id.bytes


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """`count` codes like `k7m2p-x9qrt` (50 bits each)."""
    out = []
    for _ in range(count):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_hash(ident: Identity, code: str) -> bytes:
    return ident.cipher.lookup_hash("web-recovery-code:" + _normalise(code))


def qr_data_uri(text: str) -> str:
    """A PNG QR code of `text` as a data: URI (the page's CSP allows data: images)."""
    symbol = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    symbol.add_data(text)
    symbol.make(fit=True)
    out = io.BytesIO()
    symbol.make_image().save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def secret_of(ident: Identity, user: WebUser) -> str | None:
    if user.totp_secret is None:
        return None
    return ident.cipher.decrypt(user.totp_secret, context=_context(user))


async def pending_secret(db: AsyncSession, ident: Identity, user: WebUser) -> str:
    """The secret being enrolled: the same one until it is confirmed (reloading the page
    does not invalidate a QR code already scanned)."""
    if user.totp_pending_secret is not None:
        return ident.cipher.decrypt(user.totp_pending_secret, context=_context(user))
    secret = totp.new_secret()
    await repo.set_totp_pending(db, user.id, ident.cipher.encrypt(secret, context=_context(user)))
    return secret


async def enrol(
    db: AsyncSession, ident: Identity, user: WebUser, secret: str, code: str, address: str | None
) -> list[str] | None:
    """Confirm `secret` with the person's first code; the recovery codes (shown once), or
    None when the code is wrong."""
    step = totp.verify(secret, code, ident.now().timestamp(), None)
    if step is None:
        return None
    now = ident.now()
    await repo.confirm_totp(
        db, user.id, ident.cipher.encrypt(secret, context=_context(user)), step, now
    )
    codes = new_recovery_codes()
    await repo.replace_recovery_codes(db, user.id, [recovery_hash(ident, c) for c in codes], now)
    await audit.record(
        db,
        ident,
        "totp_enrolled",
        actor=user.username,
        subject=user.username,
        region=user.region,
        address=address,
    )
    return codes


async def enrol_known(db: AsyncSession, ident: Identity, user: WebUser, secret: str) -> None:
    """Enrol `secret` without a first code (the demo's accounts: the demo prints the secret,
    `yiyang web totp USER` the current code). Not reachable from any page."""
    await repo.confirm_totp(
        db, user.id, ident.cipher.encrypt(secret, context=_context(user)), 0, ident.now()
    )


async def check(db: AsyncSession, ident: Identity, user: WebUser, code: str) -> str | None:
    """`"totp"` or `"recovery"` when `code` is a current code from the app (each step once)
    or an unused recovery code (spent now); None otherwise."""
    secret = secret_of(ident, user)
    if secret is None:
        return None
    digits = code.strip().replace(" ", "")
    if digits.isdigit():
        step = totp.verify(secret, digits, ident.now().timestamp(), user.totp_last_step)
        if step is not None and await repo.claim_totp_step(db, user.id, step):
            return "totp"
        return None
    if len(_normalise(code)) != 10:
        return None
    if await repo.use_recovery_code(db, user.id, recovery_hash(ident, code), ident.now()):
        return "recovery"
    return None


async def reset(
    db: AsyncSession, ident: Identity, admin: str, user: WebUser, address: str | None
) -> None:
    """Forget the account's second factor and recovery codes; it enrols again at the next
    sign-in."""
    await repo.clear_totp(db, user.id, ident.now())
    ended = await session_repo.revoke_all(db, user.id, ident.now())
    await audit.record(
        db,
        ident,
        "totp_reset",
        actor=admin,
        subject=user.username,
        region=user.region,
        address=address,
        sessions_ended=ended,
    )
