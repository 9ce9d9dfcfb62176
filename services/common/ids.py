"""Identifiers: time-ordered UUIDs (version 7), so new rows land at the end of their indexes.

An id made while a province is served (a sharded service, services/common/shards.py) carries
the province in its last byte (`...45`), so the id alone finds its shard.
"""

from __future__ import annotations

import os
import time
import uuid

from services.common.shards import PROVINCE, stamp


def new_uuid() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)
    province = PROVINCE.get()
    if province is not None:
        value = stamp(value, province)
    return uuid.UUID(int=value)


def new_id() -> str:
    return str(new_uuid())


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
