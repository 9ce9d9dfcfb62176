"""Bank account numbers at rest in the ledger: the payment lines and the stored instruction
file are encrypted with PiiCipher (AES-256-GCM) under the ledger's own key, each bound to its
row by the AEAD context, shown masked (last four), and never logged.

The key is `YIYANG_LEDGER_PII_ENCRYPTION_KEY` (with `..._PII_HASH_KEY`, which PiiCipher
needs); the development keys are refused outside development and test (LedgerSettings).
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from services.common.crypto import PiiCipher
from services.ledger.config import LedgerSettings, get_settings


@lru_cache(maxsize=4)
def _cipher(encryption_key: str, hash_key: str) -> PiiCipher:
    return PiiCipher(encryption_key, hash_key)


def bank_cipher(settings: LedgerSettings | None = None) -> PiiCipher:
    """The cipher of bank account numbers at rest, under the ledger's keys."""
    settings = settings or get_settings()
    return _cipher(settings.pii_encryption_key, settings.pii_hash_key)


def line_context(reference: str) -> bytes:
    """The AEAD context binding a sealed number to its payment line."""
    return f"payment_line:{reference}".encode()


def batch_context(batch_id: uuid.UUID | str) -> bytes:
    return f"payment_batch:{batch_id}".encode()


def mask_number(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def seal_file(box: PiiCipher, batch_id: uuid.UUID | str, body: bytes) -> bytes:
    """The instruction file (UTF-8 text) encrypted; `open_file` gives back the same bytes."""
    return box.encrypt(body.decode("utf-8"), context=batch_context(batch_id))


def open_file(box: PiiCipher, batch_id: uuid.UUID | str, blob: bytes) -> bytes:
    return box.decrypt(blob, context=batch_context(batch_id)).encode("utf-8")
