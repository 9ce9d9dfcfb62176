"""Payment batches: approved claims -> a payment instruction file; the bank's confirmation
file -> the payments posted (provider payable Dr / treasury cash Cr).

Rules (docs/settlement.md, "Payment batches"):
- A batch takes approved claims that finance's scope covers (all of them, or the ones named);
  each claim becomes one line; a claim is in at most one pending or paid line (unique index),
  so two officers racing to batch the same claim cannot both succeed.
- The instruction file is CSV (UTF-8, header row) with a SHA-256 of its exact bytes; it is
  kept with the batch and served unchanged.
- Importing a confirmation file: every row must name a line of the batch with its exact
  amount, else the whole file is refused (CONFIRMATION_INVALID) and nothing changes. A paid
  line is posted once (entry key `payment:<line_reference>`), a failed line returns its claim
  to `approved` (payable stays; it can go in a later batch). A file seen before (same SHA-256)
  answers its first result and posts nothing; a line settled before is left as it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.common.auth import Principal
from services.common.db import retry_transaction
from services.common.errors import IdempotencyKeyReused
from services.common.ids import new_uuid
from services.ledger import chart, hashing
from services.ledger.chart import AccountKey
from services.ledger.repository import journal
from services.ledger.service.plans import EntryPlan, PostingPlan
from services.ledger.settlement import batch_repository as repo
from services.ledger.settlement import repository as claim_repo
from services.ledger.settlement.clients import ProviderClient
from services.ledger.settlement.errors import (
    BankAccountMissing,
    BatchNotFound,
    ClaimsNotPayable,
    ConfirmationInvalid,
    NothingToPay,
)

TZ = ZoneInfo("Asia/Shanghai")
FILE_COLUMNS = ("batch_reference", "line_reference", "payee_name", "bank_name",
                "account_number", "amount_fen", "purpose")
CONFIRMATION_COLUMNS = ("batch_reference", "line_reference", "status", "amount_fen")


def instruction_file(reference: str, lines: list[dict[str, Any]]) -> bytes:
    """The payment instruction CSV (layout in docs/settlement.md)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(FILE_COLUMNS)
    for ln in lines:
        w.writerow([reference, ln["reference"], ln["payee_name"], ln["bank_name"],
                    ln["account_number"], ln["amount_fen"], ln["purpose"]])
    return out.getvalue().encode("utf-8")


def _covers_all(who: Principal, regions: list[str]) -> bool:
    return all(who.covers_region(r) for r in regions)


async def create_batch(pool: asyncpg.Pool, providers: ProviderClient, *, region_code: str,
                       claim_ids: list[uuid.UUID] | None, idempotency_key: str,
                       who: Principal) -> dict[str, Any]:
    fingerprint = hashing.request_hash("payment_batch", {
        "region_code": region_code,
        "claim_ids": sorted(str(c) for c in claim_ids) if claim_ids is not None else None})
    async with pool.acquire() as conn:
        old = await repo.batch_by_key(conn, idempotency_key)
        if old is None:
            candidates = await repo.approved_claims(conn, claim_ids)
    if old is not None:
        if bytes(old["request_hash"]) != fingerprint:
            raise IdempotencyKeyReused(field="idempotency_key")
        return await read_batch(pool, old["id"])
    if claim_ids is not None:
        _refuse_unpayable(claim_ids, candidates, who)
    candidates = [c for c in candidates if c["status"] == "approved"
                  and _covers_all(who, list(c["region_codes"]))
                  and _within(region_code, list(c["region_codes"]))]
    if not candidates:
        raise NothingToPay(field="claim_ids" if claim_ids is not None else "region_code")
    accounts = {}
    for pid in sorted({c["provider_id"] for c in candidates}):
        acct = await providers.bank_account(pid)
        if acct is None:
            raise BankAccountMissing(field="claim_ids", details={"provider_id": pid})
        accounts[pid] = acct

    async def attempt() -> uuid.UUID:
        async with pool.acquire() as conn, conn.transaction():
            old = await repo.batch_by_key(conn, idempotency_key)
            if old is not None:
                return old["id"]
            locked = await repo.approved_claims(conn, [c["id"] for c in candidates], lock=True)
            payable = [c for c in locked if c["status"] == "approved"]
            if claim_ids is not None and len(payable) != len(locked):
                _refuse_unpayable(claim_ids, locked, who)
            if not payable:
                raise NothingToPay(field="region_code")
            batch_id = new_uuid()
            reference = "PB" + datetime.now(TZ).strftime("%Y%m%d") + secrets.token_hex(4).upper()
            lines = []
            for n, c in enumerate(payable, 1):
                acct = accounts[c["provider_id"]]
                lines.append({
                    "reference": f"{reference}-{n:04d}", "batch_id": batch_id,
                    "claim_id": c["id"], "provider_id": c["provider_id"],
                    "payee_name": acct.payee_name, "bank_name": acct.bank_name,
                    "account_number": acct.account_number, "amount_fen": int(c["total_fen"]),
                    "purpose": f"颐养补贴结算 {c['period']} 申领单 {c['id']}"})
            body = instruction_file(reference, lines)
            await repo.insert_batch(conn, {
                "id": batch_id, "reference": reference, "region_code": region_code,
                "total_fen": sum(ln["amount_fen"] for ln in lines), "line_count": len(lines),
                "file_csv": body, "file_sha256": hashlib.sha256(body).hexdigest(),
                "idempotency_key": idempotency_key, "request_hash": fingerprint,
                "created_by": who.sub}, lines)
            for c in payable:
                await repo.set_claim_status(conn, c["id"], "batched")
                await claim_repo.add_action(conn, c["id"], "batch", who.sub, who.role.value,
                                            reference)
            return batch_id

    batch_id = await retry_transaction(attempt)
    return await read_batch(pool, batch_id)


def _within(region_code: str, regions: list[str]) -> bool:
    from services.common.regions import region_covers
    return all(region_covers(region_code, r) for r in regions)


def _refuse_unpayable(claim_ids: list[uuid.UUID], found: list[asyncpg.Record],
                      who: Principal) -> None:
    by_id = {c["id"]: c for c in found}
    problems = []
    for cid in claim_ids:
        c = by_id.get(cid)
        if c is None or not _covers_all(who, list(c["region_codes"])):
            problems.append({"claim_id": str(cid), "problem": "NOT_FOUND"})
        elif c["status"] != "approved":
            problems.append({"claim_id": str(cid), "problem": c["status"].upper()})
    if problems:
        raise ClaimsNotPayable(field="claim_ids", details={"claims": problems})


async def read_batch(pool: asyncpg.Pool, batch_id: uuid.UUID,
                     who: Principal | None = None) -> dict[str, Any]:
    async with pool.acquire() as conn:
        b = await repo.get_batch(conn, batch_id)
        if b is None or (who is not None and not who.covers_region(b["region_code"])):
            raise BatchNotFound(field="batch_id")
        lines = await repo.batch_lines(conn, batch_id)
    return {"id": str(b["id"]), "reference": b["reference"], "region_code": b["region_code"],
            "total_fen": int(b["total_fen"]), "count": b["line_count"],
            "file_sha256": b["file_sha256"], "created_by": b["created_by"],
            "created_at": b["created_at"].isoformat(),
            "lines": [{"reference": ln["reference"], "claim_id": str(ln["claim_id"]),
                       "provider_id": ln["provider_id"], "payee_name": ln["payee_name"],
                       "amount_fen": int(ln["amount_fen"]), "status": ln["status"],
                       "entry_id": str(ln["entry_id"]) if ln["entry_id"] else None,
                       "failure_reason": ln["failure_reason"]} for ln in lines]}


async def batch_file(pool: asyncpg.Pool, batch_id: uuid.UUID, who: Principal
                     ) -> tuple[bytes, str, str]:
    async with pool.acquire() as conn:
        b = await repo.get_batch(conn, batch_id)
    if b is None or not who.covers_region(b["region_code"]):
        raise BatchNotFound(field="batch_id")
    return bytes(b["file_csv"]), b["file_sha256"], b["reference"]


def parse_confirmation(raw: bytes, reference: str, lines: dict[str, asyncpg.Record]
                       ) -> list[dict[str, Any]]:
    """Rows of the bank's confirmation file, each checked against the batch."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfirmationInvalid("The file is not UTF-8 text.", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CONFIRMATION_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfirmationInvalid("Columns are missing.", field="file",
                                  details={"missing": missing})
    rows, problems, seen = [], [], set()
    for n, r in enumerate(reader, 2):
        ref, status = (r.get("line_reference") or "").strip(), (r.get("status") or "").strip()
        amount = (r.get("amount_fen") or "").strip()
        line = lines.get(ref)
        if (r.get("batch_reference") or "").strip() != reference:
            problems.append({"row": n, "field": "batch_reference", "problem": "OTHER_BATCH"})
        elif line is None:
            problems.append({"row": n, "field": "line_reference", "problem": "UNKNOWN_LINE"})
        elif ref in seen:
            problems.append({"row": n, "field": "line_reference", "problem": "DUPLICATE_LINE"})
        elif status not in ("paid", "failed"):
            problems.append({"row": n, "field": "status", "problem": "INVALID_STATUS"})
        elif not amount.isdigit() or int(amount) != int(line["amount_fen"]):
            problems.append({"row": n, "field": "amount_fen", "problem": "AMOUNT_MISMATCH"})
        else:
            seen.add(ref)
            rows.append({"line_reference": ref, "status": status,
                         "bank_reference": (r.get("bank_reference") or "").strip()[:100] or None,
                         "reason": (r.get("reason") or "").strip()[:500] or None})
    if problems:
        raise ConfirmationInvalid(field="file", details={"rows": problems[:100]})
    if not rows:
        raise ConfirmationInvalid("The file has no rows.", field="file")
    return rows


def payment_plan(line_reference: str, provider_id: str, owed: list[tuple[AccountKey, int]],
                 created_by: str, bank_reference: str | None) -> EntryPlan:
    """Settlement paid: provider payable Dr / treasury cash Cr, per payable account (same
    program, region and funding source)."""
    postings: list[PostingPlan] = []
    for key, amount in owed:
        postings.append(PostingPlan(key, amount))
        postings.append(PostingPlan(AccountKey(chart.TREASURY_CASH, key.program_code,
                                               key.region_code, key.funding_source), -amount))
    first = owed[0][0]
    return EntryPlan("settlement_payment", postings, created_by,
                     program_code=first.program_code, region_code=first.region_code,
                     provider_id=provider_id, ref=line_reference,
                     idempotency_key=f"payment:{line_reference}", memo=bank_reference)


async def import_confirmation(pool: asyncpg.Pool, batch_id: uuid.UUID, raw: bytes,
                              who: Principal) -> dict[str, Any]:
    sha = hashlib.sha256(raw).hexdigest()

    async def attempt() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            head = await journal.lock_head(conn)  # one writer at a time, like every posting
            b = await repo.get_batch(conn, batch_id)
            if b is None or not who.covers_region(b["region_code"]):
                raise BatchNotFound(field="batch_id")
            seen = await repo.confirmation(conn, batch_id, sha)
            if seen is not None:
                import json
                return {**json.loads(seen["result"]), "duplicate_file": True}
            lines = {ln["reference"]: ln for ln in await repo.batch_lines(conn, batch_id,
                                                                            lock=True)}
            rows = parse_confirmation(raw, b["reference"], lines)
            plans, settle, result = [], [], {"paid": [], "failed": [], "unchanged": []}
            for row in rows:
                line = lines[row["line_reference"]]
                if line["status"] != "pending":
                    result["unchanged"].append(row["line_reference"])
                    continue
                if row["status"] == "paid":
                    owed = await repo.payable_of_claim(conn, line["claim_id"])
                    plan = payment_plan(row["line_reference"], line["provider_id"], owed,
                                        who.sub, row["bank_reference"])
                    plans.append(plan)
                    settle.append((row, line, plan.id))
                    result["paid"].append(row["line_reference"])
                else:
                    settle.append((row, line, None))
                    result["failed"].append(row["line_reference"])
            if plans:
                accounts = await journal.resolve_accounts(
                    conn, (p.account for plan in plans for p in plan.postings))
                await journal.write_entries(conn, head, plans, accounts)
            for row, line, entry_id in settle:
                await repo.settle_line(conn, row["line_reference"], row["status"], entry_id,
                                       row["bank_reference"], row["reason"])
                await repo.set_claim_status(conn, line["claim_id"],
                                            "paid" if entry_id else "approved")
                await claim_repo.add_action(conn, line["claim_id"],
                                            "pay" if entry_id else "batch", who.sub,
                                            who.role.value,
                                            f"{row['line_reference']}: {row['status']}"
                                            + (f" ({row['reason']})" if row["reason"] else ""))
            result["paid_fen"] = sum(int(lines[r]["amount_fen"]) for r in result["paid"])
            result["file_sha256"] = sha
            await repo.record_confirmation(conn, batch_id, sha, who.sub, result)
            return {**result, "duplicate_file": False}

    return await retry_transaction(attempt)
