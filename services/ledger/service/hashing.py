"""Canonical bytes of a journal entry and the hash chain over them.

hash(entry) = sha256(prev_hash || canonical(entry, postings)); the first entry's prev_hash is
32 zero bytes. The canonical form is compact JSON with sorted keys over every column of the
entry (`details` only when present) and of each of its postings (in line order) except the
transaction id and the hashes, with UUIDs as strings, timestamps in UTC with microseconds and
amounts as integers, so anyone can recompute it from the rows or from an export: docs/ledger.md
"The canonical form" states it byte by byte, audit/verify_ledger.py recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

GENESIS_HASH = bytes(32)

ENTRY_FIELDS = (
    "id",
    "book",
    "seq",
    "kind",
    "posted_at",
    "period",
    "program_code",
    "region_code",
    "provider_id",
    "beneficiary_id",
    "voucher_id",
    "ref",
    "event_id",
    "idempotency_key",
    "reverses_entry_id",
    "memo",
    "created_by",
)
# Hashed only when the entry has them (not null): entries written before they existed keep
# their hashes.
OPTIONAL_ENTRY_FIELDS = ("details",)
POSTING_FIELDS = (
    "line",
    "account_id",
    "amount_fen",
    "currency",
    "seq",
    "posted_at",
    "period",
    "program_code",
    "region_code",
    "funding_source",
    "provider_id",
    "beneficiary_id",
    "voucher_id",
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return _utc(value)
    return value


@lru_cache(maxsize=1024)
def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_text(value: datetime) -> str:
    """A timestamp as the canonical form writes it (UTC, microseconds, 'Z')."""
    return _utc(value)


def canonical(entry: Mapping[str, Any], postings: Sequence[Mapping[str, Any]]) -> bytes:
    """Compact JSON, keys sorted, UTF-8 unescaped (what json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False) writes; orjson for speed)."""
    doc = {f: _plain(entry[f]) for f in ENTRY_FIELDS}
    for f in OPTIONAL_ENTRY_FIELDS:
        if entry.get(f) is not None:
            doc[f] = entry[f]
    return canonical_plain(
        doc,
        [
            {f: _plain(p[f]) for f in POSTING_FIELDS}
            for p in sorted(postings, key=lambda p: p["line"])
        ],
    )


def canonical_plain(entry: dict[str, Any], postings: list[dict[str, Any]]) -> bytes:
    """`canonical` of an entry already in plain form: exactly the ENTRY_FIELDS (and the
    OPTIONAL_ENTRY_FIELDS it has, never as null), and postings
    of exactly the POSTING_FIELDS in line order, with UUIDs and timestamps as strings
    (`utc_text`). The write path builds these directly (repository.posting.write_entries)."""
    return orjson.dumps({**entry, "postings": postings}, option=orjson.OPT_SORT_KEYS)


def entry_hash(
    prev_hash: bytes, entry: Mapping[str, Any], postings: Sequence[Mapping[str, Any]]
) -> bytes:
    return hashlib.sha256(bytes(prev_hash) + canonical(entry, postings)).digest()


def entry_hash_plain(
    prev_hash: bytes, entry: dict[str, Any], postings: list[dict[str, Any]]
) -> bytes:
    """`entry_hash` of an entry in plain form (see `canonical_plain`)."""
    return hashlib.sha256(prev_hash + canonical_plain(entry, postings)).digest()


def request_hash(operation: str, body: Mapping[str, Any]) -> bytes:
    """The fingerprint an idempotency key is bound to: sha256 of what json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False, default=str) writes of {"op", "body"} (stored
    with the key, so it never changes). orjson writes the same bytes for plain JSON (strings,
    integers of up to 64 bits, booleans, nulls, objects and arrays of them) in a tenth of the
    time; anything else (a float, a date, a tuple) goes the standard library's way."""
    if plain_json(body):
        return request_hash_plain(operation, body)
    doc = {"op": operation, "body": body}
    data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).digest()


def request_hash_plain(operation: str, body: Mapping[str, Any]) -> bytes:
    """`request_hash` of a body the caller knows is plain JSON (`plain_json`)."""
    doc = {"op": operation, "body": body}
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).digest()


_LEAVES = frozenset({str, bool, type(None)})
_STR = frozenset({str})
_INT_LOW, _INT_END = -(2**63), 2**64


def plain_json(value: Any) -> bool:
    """Does orjson write `value` byte for byte as the standard library's compact, key-sorted,
    unescaped form does? (tests/ledger/test_request_hash.py compares the two.)"""
    t = type(value)
    if t is dict:
        return set(map(type, value)) <= _STR and _plain_values(value.values())  # keys: text
    if t is list:
        return _plain_values(value)
    return t in _LEAVES or (t is int and _INT_LOW <= value < _INT_END)


def _plain_values(values: Iterable[Any]) -> bool:
    # (a loop, leaves checked inline: an event's payload is some twenty leaves, checked for
    # every event the ledger receives)
    for v in values:
        t = type(v)
        if t in _LEAVES or (t is int and _INT_LOW <= v < _INT_END):
            continue
        if not plain_json(v):
            return False
    return True
