"""An `Idempotency-Key` as a service keeps it: scoped to its caller, so two callers' keys
never meet, with the request it came with hashed to tell a repeat from another request (the
voucher's officers' writes, the provider's terminal issuance)."""

from __future__ import annotations

from typing import Any

import orjson

from services.common.crypto import PiiCipher
from services.common.errors import InvalidIdempotencyKey

FIELD = "Idempotency-Key"


def scoped_key(who: str, key: str) -> str:
    """`key` as stored for the caller `who`; 422 INVALID_IDEMPOTENCY_KEY when it is empty
    or longer than 200 characters."""
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidIdempotencyKey(field=FIELD)
    return f"{who}\x1f{key}"


def request_hash(cipher: PiiCipher, operation: str, body: dict[str, Any]) -> bytes:
    """The request under a key, hashed with the personal-data hash key (HMAC): a body may
    hold a national ID, which a plain hash would give away to anyone trying every ID."""
    return cipher.lookup_hash(
        operation + "\x1f" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    )
