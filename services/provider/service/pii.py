"""How a provider's personal and settlement data is kept: encrypted with the service's keys
(bound to the provider's id), shown masked. No I/O."""

from __future__ import annotations

from functools import lru_cache

from services.common.crypto import PiiCipher
from services.provider.config import ProviderSettings


@lru_cache(maxsize=4)
def _cipher(encryption_key: str, hash_key: str) -> PiiCipher:
    return PiiCipher(encryption_key, hash_key)


def cipher(settings: ProviderSettings) -> PiiCipher:
    return _cipher(settings.pii_encryption_key, settings.pii_hash_key)


def mask_account_number(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]
