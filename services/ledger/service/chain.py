"""The chains: each book's hash chain recomputed from its first entry, the root chain of
anchors over the books' heads, and stored balances against their postings (one snapshot,
streamed in pages). Anchoring (`anchor`) commits every book's head into the root chain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, retry_transaction
from services.ledger.models import RootAnchor
from services.ledger.repository import audit as repo
from services.ledger.schemas import AnchorHead, AnchorRead, BadEntry, BookRead, ChainVerifyRead
from services.ledger.service import books, hashing


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as the hash reads it (char columns without their padding)."""
    d = dict(row)
    for k in ("currency", "period"):
        if isinstance(d.get(k), str):
            d[k] = d[k].strip()
    return d


def anchor_read(a: RootAnchor) -> AnchorRead:
    return AnchorRead(
        seq=a.seq,
        anchored_at=hashing.utc_text(a.anchored_at),
        heads=[AnchorHead(book=h["book"], seq=h["seq"], hash=h["hash"]) for h in a.heads],
        prev_hash=bytes(a.prev_hash).hex(),
        hash=bytes(a.hash).hex(),
    )


async def _verify_book(session: AsyncSession, book: str) -> tuple[int, bytes, BadEntry | None]:
    """(entries checked, the hash of the last good entry, the first bad entry or None)."""
    checked = 0
    prev = hashing.GENESIS_HASH
    expected_seq = 1
    async for page in repo.chain_pages(session, book):
        by_entry: defaultdict[Any, list[dict[str, Any]]] = defaultdict(list)
        for p in page.postings:
            by_entry[p["entry_id"]].append(_plain(p))
        for e in page.entries:
            reason = None
            if e["seq"] != expected_seq:
                reason = f"sequence gap: expected {expected_seq}, found {e['seq']}"
            elif bytes(e["prev_hash"]) != prev:
                reason = "prev_hash does not match the previous entry"
            elif hashing.entry_hash(prev, _plain(e), by_entry.get(e["id"], [])) != bytes(e["hash"]):
                reason = "hash does not match the entry and its postings"
            if reason:
                return (
                    checked,
                    prev,
                    BadEntry(id=str(e["id"]), seq=e["seq"], reason=reason, book=book),
                )
            prev = bytes(e["hash"])
            expected_seq += 1
            checked += 1
    return checked, prev, None


async def _verify_root(
    session: AsyncSession, tips: Mapping[str, int]
) -> tuple[int, bytes, str | None]:
    """(anchors checked, the root's head hash, why it fails or None): each anchor continues
    the one before, its hash is recomputed, and each head it states is the hash of that
    book's entry at that seq (seq 0: 32 zero bytes), never behind the previous anchor."""
    checked, prev, after = 0, hashing.GENESIS_HASH, 0
    last_seq: dict[str, int] = {}
    while True:
        page = await repo.anchors(session, after)
        if not page:
            return checked, prev, None
        wanted = [(h["seq"], h["book"]) for a in page for h in a.heads if h["seq"] > 0]
        stored = await repo.entry_hashes(session, wanted)
        for a in page:
            heads = books.heads_of(a.heads)
            why = None
            if a.seq != checked + 1:
                why = f"anchor seq {a.seq} does not follow {checked}"
            elif bytes(a.prev_hash) != prev:
                why = f"anchor {a.seq}: prev_hash is not the previous anchor's hash"
            elif books.anchor_hash(prev, a.seq, hashing.utc_text(a.anchored_at), heads) != bytes(
                a.hash
            ):
                why = f"anchor {a.seq}: hash does not match its heads"
            else:
                for h in heads:
                    actual = stored.get((h.seq, h.book)) if h.seq else hashing.GENESIS_HASH
                    if h.seq < last_seq.get(h.book, 0) or h.seq > tips.get(h.book, 0):
                        why = f"anchor {a.seq}: book {h.book} seq {h.seq} is not on its chain"
                    elif actual != h.hash:
                        why = (
                            f"anchor {a.seq}: book {h.book} entry seq {h.seq} does not have "
                            "the hash anchored"
                        )
                    if why:
                        break
                    last_seq[h.book] = h.seq
            if why:
                return checked, prev, why
            prev = bytes(a.hash)
            checked += 1
        after = page[-1].seq


async def list_books(db: Database) -> list[BookRead]:
    """Every book that holds entries, with its head, by book (as `books` of a whole
    verification counts them)."""
    async with db.unit_of_work(readonly=True) as session:
        return [
            BookRead(
                book=h.book,
                entries=h.last_seq,
                head_hash=bytes(h.last_hash).hex(),
                last_posted_at=hashing.utc_text(h.last_posted_at),
            )
            for h in await repo.heads(session)
            if h.last_seq > 0
        ]


async def _root_and_balances(
    session: AsyncSession, tips: Mapping[str, int], total: int
) -> ChainVerifyRead:
    """The whole ledger's verdict once its books are checked (or taken as they stand): the
    root chain over the books' heads at `tips`, then every stored balance against its
    postings. `total`: the entries checked before."""
    anchors, root, why = await _verify_root(session, tips)
    mismatched = await repo.balance_mismatches(session)
    used = sum(1 for n in tips.values() if n > 0)
    common = {"entries_checked": total, "head_hash": root.hex(), "books": used}
    if why is not None:
        return ChainVerifyRead(
            ok=False, first_bad_entry=None, reason=why, anchors_checked=anchors, **common
        )
    if mismatched:
        return ChainVerifyRead(
            ok=False,
            first_bad_entry=None,
            reason="stored balances differ from postings",
            accounts=[str(a) for a in mismatched],
            anchors_checked=anchors,
            **common,
        )
    return ChainVerifyRead(ok=True, anchors_checked=anchors, **common)


async def verify_root(db: Database) -> ChainVerifyRead:
    """The root chain over the books' heads as they stand, and every stored balance against
    its postings, without walking the books' entries: the last step of a verification that
    checked each book on its own (`?book=`), so that a long verification shows its progress
    book by book. `entries_checked` is 0 here."""
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        tips = {h.book: h.last_seq for h in await repo.heads(session)}
        return await _root_and_balances(session, tips, 0)


async def verify_chain(db: Database, book: str | None = None) -> ChainVerifyRead:
    """One book (`book`): its chain from seq 1 and its head. The whole ledger: every book
    so, then the root chain over them (`head_hash` is the root's head), then every stored
    balance against its postings. The first thing that does not hold is named."""
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        heads = {h.book: h for h in await repo.heads(session)}
        names = [book] if book is not None else sorted(heads)
        total = 0
        tips: dict[str, int] = {}
        last_hash = hashing.GENESIS_HASH
        for name in names:
            checked, last_hash, bad = await _verify_book(session, name)
            total += checked
            if bad is not None:
                return ChainVerifyRead(
                    ok=False,
                    entries_checked=total,
                    head_hash=last_hash.hex(),
                    first_bad_entry=bad,
                    book=book,
                )
            head = heads.get(name)
            head_seq = head.last_seq if head else 0
            head_hash = bytes(head.last_hash) if head else hashing.GENESIS_HASH
            if head_seq != checked or head_hash != last_hash:
                return ChainVerifyRead(
                    ok=False,
                    entries_checked=total,
                    head_hash=last_hash.hex(),
                    first_bad_entry=None,
                    reason=f"the head of book {name} does not match its last entry",
                    book=book,
                )
            tips[name] = checked
        if book is not None:
            return ChainVerifyRead(
                ok=True, entries_checked=total, head_hash=last_hash.hex(), book=book
            )
        return await _root_and_balances(session, tips, total)


async def anchor(db: Database, *, force: bool = False) -> RootAnchor | None:
    """Commit every book's committed head into the root chain (one anchor), when some book
    moved since the last anchor (`force`: even if none did, once there is a book). Returns
    the newest anchor (the one written, or the last one when there was nothing to add)."""

    async def attempt() -> RootAnchor | None:
        async with db.unit_of_work() as session:
            await repo.lock_anchoring(session)
            last = await repo.last_anchor(session)
            now_heads = [
                books.BookHeadState(h.book, h.last_seq, bytes(h.last_hash))
                for h in await repo.heads(session)
                if h.last_seq > 0
            ]
            before = books.heads_of(last.heads) if last else None
            if not now_heads or (not force and not books.anchor_needed(before, now_heads)):
                return last
            at: datetime = await repo.now(session)
            if last is not None and at < last.anchored_at:
                at = last.anchored_at
            seq = (last.seq if last else 0) + 1
            prev = bytes(last.hash) if last else hashing.GENESIS_HASH
            row = RootAnchor(
                seq=seq,
                anchored_at=at,
                heads=[
                    {"book": h.book, "seq": h.seq, "hash": h.hash.hex()}
                    for h in sorted(now_heads, key=lambda h: h.book)
                ],
                prev_hash=prev,
                hash=books.anchor_hash(prev, seq, hashing.utc_text(at), now_heads),
            )
            await repo.add_anchor(session, row)
            return row

    return await retry_transaction(attempt)
