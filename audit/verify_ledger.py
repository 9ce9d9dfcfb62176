#!/usr/bin/env python3
"""Recompute Yiyang's ledger hash chain from an export, trusting none of Yiyang's code.

    python3 verify_ledger.py EXPORT [--anchors FILE] [--checkpoints FILE]
                             [--trust PUBLIC_KEY_HEX] [--partial]

EXPORT is what `GET /v1/entries` answers (`{"entries": [...]}`, pages concatenated or not), a
JSON list of entries, JSON lines (one entry or one page a line), or the journal file set (a
zip holding `entries.json`, which also carries the root chain's `anchors`). The journal is
divided into books (`book`: a city-level region prefix, or `main`); each book is its own chain
(seq 1, 2, 3, ...), and the root chain of anchors commits every book's head (`--anchors`: the
anchors as `GET /v1/chain/anchors` answers them, when the export does not carry them). The
chains need only Python's standard library; checking the signed checkpoints (JSON lines, from
`GET /v1/chain/checkpoints` or the checkpoint file) needs the `cryptography` package. The rules
are in docs/ledger.md, "For auditors". Exit status 0 when everything agrees, 1 naming the
first entry or anchor that does not, 2 for an unreadable input.
"""

import argparse
import hashlib
import json
import sys
import zipfile
from datetime import UTC, datetime

GENESIS = "00" * 32
ENTRY_FIELDS = ("id", "book", "seq", "kind", "posted_at", "period", "program_code",
                "region_code", "provider_id", "beneficiary_id", "voucher_id", "ref", "event_id",
                "idempotency_key", "reverses_entry_id", "memo", "created_by")  # fmt: skip
OPTIONAL_FIELDS = ("details",)  # hashed only when the entry has them (not null)
POSTING_FIELDS = ("line", "account_id", "amount_fen", "currency", "seq", "posted_at", "period",
                  "program_code", "region_code", "funding_source", "provider_id",
                  "beneficiary_id", "voucher_id")  # fmt: skip


def utc(text):
    """Any ISO 8601 time with an offset, as the hash writes it: UTC, 6 decimals, 'Z'."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(e):
    """The bytes that are hashed: compact JSON, keys sorted, UTF-8 (not \\u-escaped)."""
    doc = {f: e[f] for f in ENTRY_FIELDS}
    doc.update({f: e[f] for f in OPTIONAL_FIELDS if e.get(f) is not None})
    doc["posted_at"] = utc(e["posted_at"])
    doc["postings"] = []
    for p in sorted(e["postings"], key=lambda p: p["line"]):
        line = {f: p[f] for f in POSTING_FIELDS}
        line["account_id"] = int(p["account_id"])  # ids are strings in the export
        line["posted_at"] = utc(p["posted_at"])
        doc["postings"].append(line)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def anchor_canonical(a):
    """The bytes of an anchor that are hashed: seq, time (UTC) and the heads sorted by book."""
    heads = sorted(({"book": h["book"], "hash": h["hash"], "seq": h["seq"]} for h in a["heads"]),
                   key=lambda h: h["book"])  # fmt: skip
    doc = {"anchored_at": utc(a["anchored_at"]), "heads": heads, "seq": a["seq"]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def read_docs(path):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            text = z.read("entries.json").decode()
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [item for d in docs for item in (d if isinstance(d, list) else [d])]


def load_entries(path):
    """The entries of an export, by (book, seq); and the anchors it carries, by seq."""
    entries, anchors = [], []
    for item in read_docs(path):
        if "heads" in item:
            anchors.append(item)
            continue
        entries.extend(item.get("entries", [item]))
        anchors.extend(item.get("anchors", []))
    unique = {(e.get("book", "main"), e["seq"]): e for e in entries}
    return ([unique[k] for k in sorted(unique)],
            sorted({a["seq"]: a for a in anchors}.values(), key=lambda a: a["seq"]))  # fmt: skip


def check_books(entries, partial=False):
    """Each book's chain (`check_chain`); (None, hashes by book and seq) or (bad, ...)."""
    by_book = {}
    for e in entries:
        by_book.setdefault(e.get("book", "main"), []).append(e)
    hashes = {}
    for book in sorted(by_book):
        bad, hashes[book] = check_chain(by_book[book], partial)
        if bad:
            return bad, hashes
    return None, hashes


def check_root(anchors, hashes, partial=False):
    """The root chain: each anchor continues the one before (the first from 64 zeros), its
    hash is recomputed, and every head it states is that book's entry hash at that seq (seq
    0: 64 zeros). Problems, a failure (`FAIL:`) last; `note:` lines are not failures."""
    problems, prev = [], None
    for a in anchors:
        why = None
        expected = prev["seq"] + 1 if prev else 1
        digest = hashlib.sha256(bytes.fromhex(a["prev_hash"]) + anchor_canonical(a)).hexdigest()
        if a["seq"] != expected:
            why = f"anchors missing, expected seq {expected}"
        elif a["prev_hash"] != (prev["hash"] if prev else GENESIS):
            why = f"prev_hash is not the hash of anchor {expected - 1}"
        elif digest != a["hash"]:
            why = "hash does not match its heads"
        for h in [] if why else a["heads"]:
            got = GENESIS if h["seq"] == 0 else hashes.get(h["book"], {}).get(h["seq"])
            where = f"book {h['book']} seq {h['seq']}"
            if got is None and partial:
                problems.append(f"note: anchor {a['seq']}: {where} is not in the export")
            elif got is None:
                why = f"{where} is not in the export"
            elif got != h["hash"]:
                why = f"{where}: the entry does not have the hash anchored"
            if why:
                break
        if why:
            return [*problems, f"FAIL: anchor {a['seq']}: {why}"]
        prev = a
    return problems


def check_chain(entries, partial=False):
    """(None, hashes by seq) or (the first bad entry and why, ...) for one book's entries.
    Each entry's hash is recomputed from its own prev_hash; consecutive entries must link up;
    a whole export starts at seq 1 and has no gap (`partial`: a filtered export may)."""
    by_seq, prev = {}, None
    for e in entries:
        expected = prev["seq"] + 1 if prev else 1
        if not partial and e["seq"] != expected:
            return (e, f"entries missing before it: expected seq {expected}"), by_seq
        if prev is None and e["seq"] == 1 and e["prev_hash"] != GENESIS:
            return (e, "the first entry's prev_hash is not 32 zero bytes"), by_seq
        if prev is not None and e["seq"] == prev["seq"] + 1 and e["prev_hash"] != prev["hash"]:
            return (e, f"prev_hash is not the hash of entry seq {prev['seq']}"), by_seq
        if hashlib.sha256(bytes.fromhex(e["prev_hash"]) + canonical(e)).hexdigest() != e["hash"]:
            return (e, "hash does not match the entry and its postings"), by_seq
        by_seq[e["seq"]], prev = e["hash"], e
    return None, by_seq


def check_checkpoints(path, trust, entries, hashes, anchors):
    """Signatures (following signed key hand-overs) and agreement with the export: a
    checkpoint of book `root` signs an anchor's hash; one of a book (`main`) an entry's."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    trusted = {trust} if trust else {records[0]["key"]} if records else set()
    last_good, problems = {}, []
    if not trust and records:
        fp = hashlib.sha256(bytes.fromhex(records[0]["key"])).hexdigest()[:16]
        problems.append(f"note: no --trust given: trusting the file's first key {fp}")
    for r in records:
        body = json.dumps({k: v for k, v in r.items() if k != "signature"}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode()  # fmt: skip
        if r["key"] not in trusted:
            return [f"record signed by an untrusted key {r['key'][:16]}…: {r}"]
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(r["key"])).verify(
                bytes.fromhex(r["signature"]), body
            )
        except InvalidSignature:
            return [f"bad signature on {r}"]
        if r["type"] == "key_rotation":
            trusted = {r["new_key"]}  # the old key hands over and is retired
            continue
        claims = [(r.get("book", "main"), r["seq"], r["hash"])]
        claims += [(h["book"], h["seq"], h["hash"]) for h in r.get("heads", [])]
        for book, seq, signed_hash in claims:
            if book == "root":
                signed = {a["seq"]: a["hash"] for a in anchors}
                chain = [{"seq": a["seq"], "id": f"anchor {a['seq']}"} for a in anchors]
            else:
                signed = hashes.get(book, {})
                chain = [e for e in entries if e.get("book", "main") == book]
            if seq == 0 or seq not in signed:
                if seq:
                    problems.append(f"note: checkpoint {book} seq {seq} is not in the export "
                                    "(not compared)")  # fmt: skip
                continue
            if signed[seq] != signed_hash:
                good = last_good.get(book)
                after = good if good else 0
                first = next((e for e in chain if e["seq"] > after), None)
                name = f"entry {first['id']} (seq {first['seq']})" if first else f"seq {after + 1}"
                return [f"FAIL: checkpoint of book {book} seq {seq} signed at {r['signed_at']} "
                        f"disagrees with the export; the export agrees up to seq {after}: the "
                        f"first entry after which they disagree is {name}"]  # fmt: skip
            if seq > last_good.get(book, 0):
                last_good[book] = seq
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export")
    ap.add_argument("--anchors", help="the root chain's anchors (GET /v1/chain/anchors)")
    ap.add_argument("--checkpoints", help="signed checkpoints, JSON lines")
    ap.add_argument("--trust", help="the ledger's published Ed25519 public key (64 hex digits)")
    ap.add_argument("--partial", action="store_true", help="a filtered export: allow gaps")
    args = ap.parse_args(argv)
    try:
        entries, anchors = load_entries(args.export)
        if args.anchors:
            anchors = load_entries(args.anchors)[1]
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    bad, hashes = check_books(entries, args.partial)
    if bad:
        e, why = bad
        print(f"FAIL: entry {e['id']} (seq {e['seq']}) of book {e.get('book', 'main')}: {why}")
        return 1
    for book in sorted(hashes):
        top = max(hashes[book], default=0)
        print(f"book {book} OK: {len(hashes[book])} entries, head seq {top} hash "
              f"{hashes[book].get(top, GENESIS)}")  # fmt: skip
    if len(hashes) == 1:
        [book] = hashes
        top = max(hashes[book])
        print(f"chain OK: {len(entries)} entries, head seq {top} hash {hashes[book][top]}")
    elif not hashes:
        print(f"chain OK: 0 entries, head seq 0 hash {GENESIS}")
    problems = check_root(anchors, hashes, args.partial)
    for p in problems:
        print(p)
    if any(not p.startswith("note:") for p in problems):
        return 1
    root = anchors[-1] if anchors else {"seq": 0, "hash": GENESIS}
    print(f"root OK: {len(anchors)} anchors over {len(hashes)} books, {len(entries)} entries, "
          f"head seq {root['seq']} hash {root['hash']}")  # fmt: skip
    if args.checkpoints:
        problems = check_checkpoints(args.checkpoints, args.trust, entries, hashes, anchors)
        for p in problems:
            print(p)
        if any(not p.startswith("note:") for p in problems):
            return 1
        print("checkpoints OK: every signed head in the export agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
