#!/usr/bin/env python3
"""Recompute Yiyang's ledger hash chain from an export, trusting none of Yiyang's code.

    python3 verify_ledger.py EXPORT [--checkpoints FILE] [--trust PUBLIC_KEY_HEX] [--partial]

EXPORT is what `GET /v1/entries` answers (`{"entries": [...]}`, pages concatenated or not), a
JSON list of entries, JSON lines (one entry or one page a line), or the journal file set (a
zip holding `entries.json`). The chain needs only Python's standard library; checking the
signed checkpoints (JSON lines, from `GET /v1/chain/checkpoints` or the checkpoint file) needs
the `cryptography` package. The rules are in docs/ledger.md, "For auditors". Exit status 0
when everything agrees, 1 naming the first entry that does not, 2 for an unreadable input.
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


def load_entries(path):
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
    entries = []
    for d in docs:
        for item in d if isinstance(d, list) else [d]:
            entries.extend(item.get("entries", [item]))
    return sorted({e["seq"]: e for e in entries}.values(), key=lambda e: e["seq"])


def check_chain(entries, partial=False):
    """(None, hashes by seq) or (the first bad entry and why, ...). Each entry's hash is
    recomputed from its own prev_hash; consecutive entries must link up; a whole export
    starts at seq 1 and has no gap (`partial`: a filtered export may have gaps)."""
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


def check_checkpoints(path, trust, entries, by_seq):
    """Signatures (following signed key hand-overs) and agreement with the export."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    trusted = {trust} if trust else {records[0]["key"]} if records else set()
    last_good, problems = None, []
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
        seq = r["seq"]
        if seq not in by_seq:
            problems.append(f"note: checkpoint seq {seq} is not in the export (not compared)")
        elif by_seq[seq] != r["hash"]:
            after = last_good["seq"] if last_good else 0
            first = next((e for e in entries if e["seq"] > after), None)
            name = f"entry {first['id']} (seq {first['seq']})" if first else f"seq {after + 1}"
            return [f"FAIL: checkpoint seq {seq} signed at {r['signed_at']} disagrees with the "
                    f"export; the export agrees up to seq {after}: the first entry after which "
                    f"they disagree is {name}"]  # fmt: skip
        elif last_good is None or seq > last_good["seq"]:
            last_good = r
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export")
    ap.add_argument("--checkpoints", help="signed checkpoints, JSON lines")
    ap.add_argument("--trust", help="the ledger's published Ed25519 public key (64 hex digits)")
    ap.add_argument("--partial", action="store_true", help="a filtered export: allow gaps")
    args = ap.parse_args(argv)
    try:
        entries = load_entries(args.export)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    bad, by_seq = check_chain(entries, args.partial)
    if bad:
        e, why = bad
        print(f"FAIL: entry {e['id']} (seq {e['seq']}): {why}")
        return 1
    head = entries[-1] if entries else {"seq": 0, "hash": GENESIS}
    print(f"chain OK: {len(entries)} entries, head seq {head['seq']} hash {head['hash']}")
    if args.checkpoints:
        problems = check_checkpoints(args.checkpoints, args.trust, entries, by_seq)
        for p in problems:
            print(p)
        if any(not p.startswith("note:") for p in problems):
            return 1
        print("checkpoints OK: every signed head in the export agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
