"""The fingerprint an idempotency key or event id is bound to is stored with it, so it may never
change: orjson's fast path must write byte for byte what the standard library wrote."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidInput
from services.ledger.schemas import EventIn
from services.ledger.service import events, hashing


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
    assert not hashing.plain_json(odd)
    assert hashing.plain_json({"a": [1, "中", None, True, {"b": 2**64 - 1}]})
    assert not hashing.plain_json({"a": 2**64})


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])
) | st.datetimes(min_value=datetime(2000, 1, 1))  # naive, as a careless sender might send


@settings(max_examples=300)
@given(st.sampled_from(["redemption.created", "copay.received", "类型"]), moments, plain)
def test_an_events_fingerprint_is_the_hash_of_its_dumped_form(type_, occurred_at, payload):
    """The ledger fingerprints an event without dumping the model when its payload is plain
    JSON; the bytes hashed must be those of `model_dump(mode="json")`, which earlier events'
    stored fingerprints were made from."""
    ev = EventIn(
        event_id=uuid.uuid4(),
        type=type_,
        occurred_at=occurred_at,
        payload={"p": payload, "n": 1},
    )
    dumped = ev.model_dump(mode="json", exclude={"event_id"})
    assert events._fingerprint(ev) == stdlib_hash("event", dumped)


def test_an_event_with_text_that_is_not_unicode_is_refused_as_a_bad_request():
    # (json.loads accepts a lone surrogate escape; neither writer can encode it)
    body = json.loads('{"a": "\\ud800"}')
    ev = EventIn(event_id=uuid.uuid4(), type="x", occurred_at=datetime.now(UTC), payload=body)
    with pytest.raises(InvalidInput):
        events._fingerprint(ev)
    odd = EventIn(
        event_id=uuid.uuid4(), type="x", occurred_at=datetime.now(UTC), payload={**body, "f": 1.5}
    )
    with pytest.raises(InvalidInput):
        events._fingerprint(odd)
