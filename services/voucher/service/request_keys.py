"""Idempotency of officers' writes: an optional `Idempotency-Key` header.

The same key with the same request answers what the first request created; the same key with
another request is 409 IDEMPOTENCY_KEY_REUSED. Keys are per caller. The request is hashed with
the personal-data hash key (HMAC), because an enrolment body holds a national ID and a plain
hash of it could be reversed by trying every ID.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import IdempotencyKeyReused
from services.common.request_keys import FIELD, request_hash, scoped_key
from services.voucher.errors import IdempotencyKeyInUse
from services.voucher.repository import request_keys as repo

__all__ = ["FIELD", "remember", "replay", "request_hash", "scoped_key"]


async def replay(
    session: AsyncSession, key: str, operation: str, fingerprint: bytes
) -> uuid.UUID | None:
    """The resource an earlier request with this key created, or None if the key is new."""
    found = await repo.get(session, key)
    if found is None:
        return None
    if found.operation != operation or bytes(found.request_hash) != fingerprint:
        raise IdempotencyKeyReused(field=FIELD)
    return found.resource_id


async def remember(
    session: AsyncSession,
    key: str,
    operation: str,
    fingerprint: bytes,
    resource_id: uuid.UUID,
    who: str,
) -> None:
    if not await repo.put(session, key, operation, fingerprint, resource_id, who):
        raise IdempotencyKeyInUse(field=FIELD)
