"""The fingerprint an idempotency key or event id is bound to is stored with it, so it may never
change: orjson's fast path must write byte for byte what the standard library wrote."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.service import hashing


def stdlib_hash(operation: str, body: Any) -> bytes:
    data = json.dumps(
        {"op": operation, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(data.encode()).digest()


text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.integers()  # beyond 64 bits: the standard library's way
    | st.floats(allow_nan=False)  # the standard library's way
    | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.dictionaries(text, plain, max_size=6))
def test_the_fast_fingerprint_equals_the_stored_one(body):
    assert hashing.request_hash("event", body) == stdlib_hash("event", body)


def test_values_without_a_plain_json_form_take_the_standard_way():
    odd = {"at": datetime(2026, 12, 5, tzinfo=UTC), "id": uuid.uuid4(), "t": (1, 2), "f": 1e16}
    assert hashing.request_hash("x", odd) == stdlib_hash("x", odd)
    assert not hashing._orjson_writes_alike(odd)
    assert hashing._orjson_writes_alike({"a": [1, "中", None, True, {"b": 2**64 - 1}]})
    assert not hashing._orjson_writes_alike({"a": 2**64})
