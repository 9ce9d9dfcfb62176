"""Signed checkpoints of the root chain's head, kept where the database cannot rewrite them.

Every `checkpoint_interval_s` (when some book has moved) and at every period close, the ledger
first anchors every book's head into the root chain (service/chain.py `anchor`), then signs
the root's head — book `root`, the anchor's seq and hash, its date, the book heads it anchors
(`heads`), the time of signing — with its
own Ed25519 key (`LedgerSettings.checkpoint_private_key`) and appends the record, one JSON line,
to an append-only, owner-only file (`checkpoint_file`: the copy the auditor's office keeps);
`GET /v1/chain/checkpoints` shows the same lines. Someone who rewrites the journal inside the
database, however consistently, cannot re-sign the heads already delivered: the verifier
(audit/verify_ledger.py) compares an export with them and names where they part.

A record is signed over its own JSON without `signature`: keys sorted, compact, UTF-8
(`signing_bytes`, the same rule as the chain's canonical form). Keys rotate by a signed
hand-over: with `checkpoint_previous_private_key` set to the key being replaced, the first
record written under the new key is preceded by a `key_rotation` record, signed by the old
key, that names the new one; a key that does not follow the file's last key that way writes
nothing (`KeyNotHandedOver`). The rules (`plan_records`) are pure; `write_checkpoint` reads
the head from the database and appends under a file lock (services.common.files).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from services.common import files
from services.common.db import Database
from services.common.keys import load_private_key
from services.common.settings import get_common_settings
from services.ledger.config import LedgerSettings
from services.ledger.service import chain
from services.ledger.service.books import ROOT
from services.ledger.service.hashing import utc_text

log = logging.getLogger("yiyang.ledger.checkpoints")

INTERVAL = "interval"


class KeyNotHandedOver(RuntimeError):
    """The signing key is not the file's last key, and no configured previous key hands
    over to it: nothing is written (the auditors' chain of trust would break)."""


@dataclass(frozen=True, slots=True)
class HeadState:
    book: str
    seq: int
    hash: bytes
    posted_at: datetime
    # The root's anchor states every book's head ({book, seq, hash}); signed with it.
    heads: tuple[tuple[str, int, str], ...] = ()


def signing_bytes(record: Mapping[str, Any]) -> bytes:
    """What a record's signature covers: the record without `signature`, as compact JSON
    with sorted keys, UTF-8."""
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_hex(private_pem: str) -> str:
    """The raw 32-byte Ed25519 public key of a private key, as 64 hex digits."""
    raw = (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return bytes(raw).hex()


def public_pem(private_pem: str) -> str:
    pem: bytes = (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pem.decode()


def fingerprint(public_key_hex: str) -> str:
    """A short name of a public key people can compare aloud: SHA-256 of the raw key, 16 hex."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def sign(record: dict[str, Any], private_pem: str) -> dict[str, Any]:
    """`record` with `key` (the signer's public key) and `signature` (hex) added."""
    out = {**record, "key": public_hex(private_pem)}
    out["signature"] = bytes(load_private_key(private_pem).sign(signing_bytes(out))).hex()
    return out


def last_signer(records: Sequence[Mapping[str, Any]]) -> str | None:
    """The key the next record must be signed with: the last record's, or the new key of the
    last hand-over."""
    if not records:
        return None
    last = records[-1]
    return str(last["new_key"] if last["type"] == "key_rotation" else last["key"])


def plan_records(
    existing: Sequence[Mapping[str, Any]],
    head: HeadState,
    reason: str,
    now: datetime,
    key_pem: str,
    previous_key_pem: str | None,
) -> list[dict[str, Any]]:
    """The records to append: a hand-over if the key changed (signed by the previous key),
    then the checkpoint; nothing on an interval when the last checkpoint already states this
    head. Raises KeyNotHandedOver when the key does not follow the file's last key."""
    out: list[dict[str, Any]] = []
    signer, current = last_signer(existing), public_hex(key_pem)
    if signer is not None and signer != current:
        if not previous_key_pem or public_hex(previous_key_pem) != signer:
            raise KeyNotHandedOver(
                f"the checkpoint file was last signed by key {fingerprint(signer)}; set the "
                "previous key to hand over to the new one"
            )
        handover = {"type": "key_rotation", "new_key": current, "signed_at": utc_text(now)}
        out.append(sign(handover, previous_key_pem))
    checkpoints = [r for r in existing if r["type"] == "checkpoint"]
    if (
        not out
        and reason == INTERVAL
        and checkpoints
        and (checkpoints[-1]["seq"], checkpoints[-1]["hash"]) == (head.seq, head.hash.hex())
    ):
        return []
    record = {
        "type": "checkpoint",
        "book": head.book,
        "seq": head.seq,
        "hash": head.hash.hex(),
        "head_posted_at": utc_text(head.posted_at),
        "signed_at": utc_text(now),
        "reason": reason,
    }
    if head.heads:
        record["heads"] = [{"book": b, "seq": n, "hash": h} for b, n, h in head.heads]
    out.append(sign(record, key_pem))
    return out


def checkpoint_path(settings: LedgerSettings) -> Path:
    return settings.checkpoint_file or (
        get_common_settings().data_dir / "ledger" / "checkpoints.jsonl"
    )


def read_records(settings: LedgerSettings) -> list[dict[str, Any]]:
    """Every record of the checkpoint file, oldest first."""
    return [json.loads(line) for line in files.read_lines(checkpoint_path(settings))]


async def current_head(db: Database) -> HeadState:
    """The root chain's head, after anchoring every book's committed head into it (no anchor
    is written when no book moved since the last one)."""
    last = await chain.anchor(db)
    if last is None:
        return HeadState(ROOT, 0, bytes(32), datetime.now(UTC))
    heads = tuple((str(h["book"]), int(h["seq"]), str(h["hash"])) for h in last.heads)
    return HeadState(ROOT, last.seq, bytes(last.hash), last.anchored_at, heads)


async def write_checkpoint(
    db: Database, settings: LedgerSettings, reason: str = INTERVAL
) -> list[dict[str, Any]]:
    """Sign the committed head and append it (with a hand-over first if the key changed);
    returns the records appended."""
    head = await current_head(db)
    if head.seq == 0:
        return []  # an empty book: nothing to sign yet

    def decide(lines: list[str]) -> list[str]:
        existing = [json.loads(line) for line in lines]
        records = plan_records(
            existing,
            head,
            reason,
            datetime.now(UTC),
            settings.checkpoint_private_key,
            settings.checkpoint_previous_private_key,
        )
        return [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]

    lines = await asyncio.to_thread(files.append_private, checkpoint_path(settings), decide)
    return [json.loads(line) for line in lines]


async def checkpoint_safely(db: Database, settings: LedgerSettings, reason: str) -> None:
    """`write_checkpoint`, logging instead of raising (a background loop, a period close that
    has already committed)."""
    try:
        written = await write_checkpoint(db, settings, reason)
        for r in written:
            if r["type"] == "checkpoint":
                log.info("checkpoint signed: seq %s (%s)", r["seq"], reason)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("checkpoint not written (%s): %s", reason, exc)


async def checkpoint_forever(db: Database, settings: LedgerSettings) -> None:
    while True:
        await asyncio.sleep(settings.checkpoint_interval_s)
        await checkpoint_safely(db, settings, INTERVAL)
