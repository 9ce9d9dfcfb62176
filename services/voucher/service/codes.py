"""QR tokens, printed cards and PINs (rules only: no SQL, no FastAPI).

A token is compact binary, signed with Ed25519 and written in base32 without padding, so that
it fits the QR alphanumeric mode (A-Z, 2-7):

    version (1 byte) | kind (1 byte) | beneficiary uuid (16) | expires (uint32 epoch s) |
    nonce (8) | Ed25519 signature over the 30 bytes before it (64)

`kind` is DYNAMIC for the phone's code (expires after about a minute; its nonce is accepted
once, enforced by the primary key of `used_nonce`) or CARD for a printed card (no expiry; the
nonce names the card; the redemption must carry the card's PIN). A terminal holding the public
key (GET /v1/codes/public-key) can check the signature and expiry offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from services.common.keys import load_private_key, load_public_key
from services.voucher.errors import PinFormat, TokenExpired, TokenInvalid

TOKEN_VERSION = 1
KIND_DYNAMIC = 1
KIND_CARD = 2
_BODY = struct.Struct(">BB16sI8s")
SIGNATURE_LEN = 64
TOKEN_BYTES = _BODY.size + SIGNATURE_LEN
MAX_TOKEN_CHARS = 160  # 94 bytes -> 151 base32 characters
TOKEN_CHARS = -(-TOKEN_BYTES * 8 // 5)  # 151: the base32 length of a well-formed token
_TOKEN_PAD_BITS = TOKEN_CHARS * 5 - TOKEN_BYTES * 8  # 3 bits after the last byte
_TOKEN_TEXT = re.compile(f"[A-Z2-7]{{{TOKEN_CHARS}}}")
# The base32 alphabet (RFC 4648) onto the digits of int(..., 32): A->0 ... Z->p, 2->q ... 7->v.
_B32_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")

# The PIN: 6 digits, kept as scrypt(pin, salt); 5 failures lock the card.
PIN_LENGTH = 6
MAX_PIN_ATTEMPTS = 5
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class Token:
    kind: int
    beneficiary_id: uuid.UUID
    expires_at: datetime | None  # None for a card
    nonce: bytes
    text: str


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 8)
    return base64.b32decode(padded, casefold=False)


def _token_bytes(text: str) -> bytes:
    """The bytes of a token's text (upper case). A text of a token's length in the base32
    alphabet is read as one base-32 number (the standard library's b32decode is pure Python,
    a sixth of the redemption's Ed25519 check); anything else goes through b32decode, which
    raises or answers the wrong length."""
    if _TOKEN_TEXT.fullmatch(text):
        number = int(text.translate(_B32_DIGITS), 32) >> _TOKEN_PAD_BITS
        return number.to_bytes(TOKEN_BYTES, "big")
    return _unb32(text)


@lru_cache(maxsize=16)
def _raw_public_key(public_key_pem: str) -> bytes:
    """The 32 bytes of the QR public key, which libsodium checks signatures with."""
    raw: bytes = load_public_key(public_key_pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return raw


def sign_token(
    private_key_pem: str,
    *,
    kind: int,
    beneficiary_id: uuid.UUID,
    expires_at: datetime | None,
    nonce: bytes,
) -> str:
    if len(nonce) != 8:
        raise ValueError("nonce must be 8 bytes")
    expiry = int(expires_at.timestamp()) if expires_at is not None else 0
    body = _BODY.pack(TOKEN_VERSION, kind, beneficiary_id.bytes, expiry, nonce)
    return _b32(body + load_private_key(private_key_pem).sign(body))


def issue_dynamic(
    private_key_pem: str, beneficiary_id: uuid.UUID, ttl_s: int, now: datetime | None = None
) -> Token:
    """A fresh phone code: expires `ttl_s` after now (whole seconds), random one-time nonce."""
    now = now or datetime.now(UTC)
    expires = datetime.fromtimestamp(int(now.timestamp()) + ttl_s, UTC)
    nonce = secrets.token_bytes(8)
    text = sign_token(
        private_key_pem,
        kind=KIND_DYNAMIC,
        beneficiary_id=beneficiary_id,
        expires_at=expires,
        nonce=nonce,
    )
    return Token(KIND_DYNAMIC, beneficiary_id, expires, nonce, text)


def issue_card(private_key_pem: str, beneficiary_id: uuid.UUID) -> Token:
    """A printed card's static code; its nonce identifies the card row."""
    nonce = secrets.token_bytes(8)
    text = sign_token(
        private_key_pem, kind=KIND_CARD, beneficiary_id=beneficiary_id, expires_at=None, nonce=nonce
    )
    return Token(KIND_CARD, beneficiary_id, None, nonce, text)


def verify_token(
    public_key_pem: str, text: str, now: datetime | None = None, *, check_expiry: bool = True
) -> Token:
    """The token if its signature holds (and, for a phone code, it has not expired).

    Raises TokenInvalid for anything malformed or badly signed, TokenExpired after expiry.
    """
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TOKEN_CHARS:
        raise TokenInvalid(field="token")
    try:
        raw = _token_bytes(text.strip().upper())
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid(field="token") from exc
    if len(raw) != TOKEN_BYTES:
        raise TokenInvalid(field="token")
    body, signature = raw[: _BODY.size], raw[_BODY.size :]
    # libsodium (PyNaCl) rather than OpenSSL (cryptography): the same Ed25519 check at about
    # half the CPU, once per redemption (docs/performance.md, "The hot path at a third").
    try:
        crypto_sign_open(signature + body, _raw_public_key(public_key_pem))
    except BadSignatureError as exc:
        raise TokenInvalid(field="token") from exc
    version, kind, ben, expiry, nonce = _BODY.unpack(body)
    if version != TOKEN_VERSION or kind not in (KIND_DYNAMIC, KIND_CARD):
        raise TokenInvalid(field="token")
    expires_at = None
    if kind == KIND_DYNAMIC:
        expires_at = datetime.fromtimestamp(expiry, UTC)
        now = now or datetime.now(UTC)
        if check_expiry and now >= expires_at:
            raise TokenExpired(field="token")
    elif expiry != 0:
        raise TokenInvalid(field="token")
    return Token(kind, uuid.UUID(bytes=ben), expires_at, nonce, text.strip().upper())


def public_key_info(public_key_pem: str) -> dict[str, str]:
    """The public key as PEM and as raw base64 (what a terminal needs to verify offline)."""
    raw = load_public_key(public_key_pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "algorithm": "Ed25519",
        "pem": public_key_pem,
        "raw_base64": base64.b64encode(raw).decode(),
        "format": "base32(version u8 | kind u8 | beneficiary uuid 16 | expires u32 BE | "
        "nonce 8 | signature 64), no padding",
    }


# --- PINs -----------------------------------------------------------------------------------


def validate_pin(pin: str) -> None:
    if not (isinstance(pin, str) and len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()):
        raise PinFormat(field="pin")


def hash_pin(pin: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """(salt, scrypt(pin)): slow on purpose, so a stolen table does not give the PINs away."""
    salt = salt or os.urandom(16)
    return salt, hashlib.scrypt(pin.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def pin_matches(pin: str, salt: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(hash_pin(pin, salt)[1], expected)


def new_pin() -> str:
    return f"{secrets.randbelow(10**PIN_LENGTH):0{PIN_LENGTH}d}"


def default_expiry(now: datetime, ttl_s: int) -> datetime:
    return now + timedelta(seconds=ttl_s)
