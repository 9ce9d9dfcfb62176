"""An `Idempotency-Key` as a service keeps it: scoped to its caller, so two callers' keys
never meet (the voucher's officers' writes, the provider's terminal issuance)."""

from __future__ import annotations

from services.common.errors import InvalidIdempotencyKey

FIELD = "Idempotency-Key"


def scoped_key(who: str, key: str) -> str:
    """`key` as stored for the caller `who`; 422 INVALID_IDEMPOTENCY_KEY when it is empty
    or longer than 200 characters."""
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidIdempotencyKey(field=FIELD)
    return f"{who}\x1f{key}"
