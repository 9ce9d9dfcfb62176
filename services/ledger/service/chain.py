"""Chain verification: recompute the hash chain from the first entry and check that stored
balances equal the sum of their postings (one snapshot, streamed in pages)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from services.common.db import Database
from services.ledger.repository import audit as repo
from services.ledger.schemas import BadEntry, ChainVerifyRead
from services.ledger.service import hashing


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as the hash reads it (char columns without their padding)."""
    d = dict(row)
    for k in ("currency", "period"):
        if isinstance(d.get(k), str):
            d[k] = d[k].strip()
    return d


async def verify_chain(db: Database) -> ChainVerifyRead:
    """Name the first entry whose sequence, link or hash is wrong; then check the book's head
    against the last entry, and every stored balance against its postings."""
    checked = 0
    prev = hashing.GENESIS_HASH
    expected_seq = 1
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        async for page in repo.chain_pages(session):
            by_entry: defaultdict[Any, list[dict[str, Any]]] = defaultdict(list)
            for p in page.postings:
                by_entry[p["entry_id"]].append(_plain(p))
            for e in page.entries:
                reason = None
                if e["seq"] != expected_seq:
                    reason = f"sequence gap: expected {expected_seq}, found {e['seq']}"
                elif bytes(e["prev_hash"]) != prev:
                    reason = "prev_hash does not match the previous entry"
                elif hashing.entry_hash(prev, _plain(e), by_entry.get(e["id"], [])) != bytes(
                    e["hash"]
                ):
                    reason = "hash does not match the entry and its postings"
                if reason:
                    return ChainVerifyRead(
                        ok=False,
                        entries_checked=checked,
                        head_hash=prev.hex(),
                        first_bad_entry=BadEntry(id=str(e["id"]), seq=e["seq"], reason=reason),
                    )
                prev = bytes(e["hash"])
                expected_seq += 1
                checked += 1
        head = await repo.head(session)
        mismatched = await repo.balance_mismatches(session)
    if head.last_seq != checked or bytes(head.last_hash) != prev:
        return ChainVerifyRead(
            ok=False,
            entries_checked=checked,
            head_hash=prev.hex(),
            first_bad_entry=None,
            reason="the book's head does not match its last entry",
        )
    if mismatched:
        return ChainVerifyRead(
            ok=False,
            entries_checked=checked,
            head_hash=prev.hex(),
            first_bad_entry=None,
            reason="stored balances differ from postings",
            accounts=[str(a) for a in mismatched],
        )
    return ChainVerifyRead(ok=True, entries_checked=checked, head_hash=prev.hex())
