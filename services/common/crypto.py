"""Personal data at rest: AES-256-GCM for the value, HMAC-SHA256 for finding it.

A national ID or phone number is stored as `encrypt(value)` (nonce + ciphertext) and
`lookup_hash(value)` (keyed, so the hash cannot be reversed by hashing all possible IDs
without the key). Shown only through `mask_*`. Never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class PiiCipher:
    def __init__(self, encryption_key_hex: str, hash_key_hex: str) -> None:
        self._aead = AESGCM(bytes.fromhex(encryption_key_hex))
        self._hash_key = bytes.fromhex(hash_key_hex)

    def encrypt(self, value: str, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, value.encode(), context)

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> str:
        return self._aead.decrypt(blob[:12], blob[12:], context).decode()

    def lookup_hash(self, value: str) -> bytes:
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).digest()


def mask_national_id(value: str) -> str:
    """450103199001011234 -> 4501**********1234: the region and last four, nothing between."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """13812345678 -> 138****5678."""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """张三丰 -> 张**: the surname and one to three stars, enough for staff or a family to
    recognise the person and no more. A one-character name still gets a star (shown whole it
    would not be masked), and a long name no more than three (the stars do not tell its
    length). Every page and every service masks a name with this one function."""
    text = value.strip()
    if not text:
        return ""
    return text[0] + "*" * max(1, min(len(text) - 1, 3))
