"""Books and the root chain: pure rules (no database).

The journal is divided into books, one per city-level region: the book of an entry is the
first `BOOK_PREFIX` digits of its region (the budget region every posting of the entry carries,
service/plans.py), `main` for an entry without a region and for the entries written before
books existed. Each book has its own gapless `seq` and hash chain (its own head row), so
postings in different books never wait on one another.

Tamper evidence over the whole ledger is kept by the root chain: an anchor commits every
book's head (book, seq, hash) at a moment, and each anchor is chained to the one before it:

    anchor hash = SHA-256(prev_hash || C),  C = compact sorted JSON of
                  {"anchored_at": UTC text, "heads": [{"book", "hash", "seq"}...], "seq": n}

with the heads sorted by book and the first prev_hash 32 zero bytes, exactly as
audit/verify_ledger.py recomputes it (docs/ledger.md, "Books and the root chain"). The signed
checkpoints sign the root's head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BOOK_PREFIX = 4
LEGACY_BOOK = "main"
ROOT = "root"  # the name signed checkpoints give the root chain


def book_of(region_code: str | None) -> str:
    """The book an entry of this (budget) region is written in: its city-level prefix."""
    if region_code and len(region_code) >= BOOK_PREFIX and region_code[:BOOK_PREFIX].isdigit():
        return region_code[:BOOK_PREFIX]
    return LEGACY_BOOK


@dataclass(frozen=True, slots=True)
class BookHeadState:
    """A book's head as an anchor commits it."""

    book: str
    seq: int
    hash: bytes


def anchor_canonical(seq: int, anchored_at_utc: str, heads: Sequence[BookHeadState]) -> bytes:
    doc = {
        "anchored_at": anchored_at_utc,
        "heads": [
            {"book": h.book, "hash": h.hash.hex(), "seq": h.seq}
            for h in sorted(heads, key=lambda h: h.book)
        ],
        "seq": seq,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def anchor_hash(
    prev_hash: bytes, seq: int, anchored_at_utc: str, heads: Sequence[BookHeadState]
) -> bytes:
    return hashlib.sha256(prev_hash + anchor_canonical(seq, anchored_at_utc, heads)).digest()


def heads_of(doc: Sequence[Mapping[str, Any]]) -> list[BookHeadState]:
    """An anchor's stored `heads` (JSON) as head states."""
    return [BookHeadState(str(h["book"]), int(h["seq"]), bytes.fromhex(h["hash"])) for h in doc]


def anchor_needed(last: Sequence[BookHeadState] | None, now: Sequence[BookHeadState]) -> bool:
    """A new anchor says something: some book moved (or appeared) since the last one."""
    current = {h.book: (h.seq, h.hash) for h in now if h.seq > 0}
    before = {h.book: (h.seq, h.hash) for h in (last or []) if h.seq > 0}
    return current != before
