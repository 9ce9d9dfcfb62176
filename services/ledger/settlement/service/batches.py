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

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.common.auth import Principal
from services.common.crypto import PiiCipher
from services.common.db import retry_transaction
from services.common.errors import IdempotencyKeyReused
from services.common.ids import new_uuid
from services.ledger import hashing
from services.ledger.repository import journal
from services.ledger.settlement import batch_repository as repo
from services.ledger.settlement import repository as claim_repo
from services.ledger.settlement.clients import ProviderClient, VoucherClient
from services.ledger.settlement.errors import (
    BankAccountMissing,
    BatchNotFound,
    ClaimsNotPayable,
    NothingToPay,
)
from services.ledger.settlement.files import (
    benefit_payment_plan,
    instruction_file,
    parse_confirmation,
    payment_plan,
)
from services.ledger.settlement.secrets import line_context, mask_number, open_file, seal_file

TZ = ZoneInfo("Asia/Shanghai")


def _covers_all(who: Principal, regions: list[str]) -> bool:
    return all(who.covers_region(r) for r in regions)


async def _cash_benefit_lines(
    pool: asyncpg.Pool,
    vouchers: VoucherClient | None,
    period: str,
    region_code: str,
    who: Principal,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The period's payable cash benefits within the region, each with the beneficiary's
    payout account from the voucher service — or, without one, listed as not payable with
    the reason (never silently dropped)."""
    async with pool.acquire() as conn:
        found = await repo.payable_cash_benefits(conn, period)
    found = [
        b
        for b in found
        if b["region_code"]
        and who.covers_region(b["region_code"])
        and _within(region_code, [b["region_code"]])
    ]
    if not found:
        return [], []
    if vouchers is None:
        from services.ledger.settlement.errors import VoucherUnavailable

        raise VoucherUnavailable()
    accounts = await vouchers.payout_accounts([b["beneficiary_id"] for b in found])
    payable, not_payable = [], []
    for b in found:
        item = {
            "benefit_id": b["benefit_id"],
            "entry_id": str(b["entry_id"]),
            "beneficiary_id": b["beneficiary_id"],
            "program_code": b["program_code"],
            "period": b["period"].strip(),
            "amount_fen": int(b["amount_fen"]),
        }
        acct = accounts.get(b["beneficiary_id"])
        if acct is None:
            not_payable.append({**item, "reason": "BENEFICIARY_UNKNOWN"})
        elif not acct.get("account_number"):
            not_payable.append({**item, "reason": "NO_PAYOUT_ACCOUNT"})
        else:
            payable.append(
                {
                    **item,
                    "cash_entry_id": b["entry_id"],
                    "payee_name": acct["account_name"],
                    "bank_name": acct["bank_name"],
                    "account_number": acct["account_number"],
                }
            )
    return payable, not_payable


async def payable_cash_benefits(
    pool: asyncpg.Pool, vouchers: VoucherClient, *, period: str, region_code: str, who: Principal
) -> dict[str, Any]:
    """What a batch with `cash_benefit_period` would take now, and what it could not pay
    and why (account numbers masked)."""
    payable, not_payable = await _cash_benefit_lines(pool, vouchers, period, region_code, who)
    return {
        "period": period,
        "region_code": region_code,
        "total_fen": sum(b["amount_fen"] for b in payable),
        "payable": [
            {
                k: v
                for k, v in b.items()
                if k not in ("cash_entry_id", "account_number", "payee_name")
            }
            | {"account_number_masked": mask_number(b["account_number"])}
            for b in payable
        ],
        "not_payable": not_payable,
    }


async def create_batch(
    pool: asyncpg.Pool,
    providers: ProviderClient,
    *,
    region_code: str,
    claim_ids: list[uuid.UUID] | None,
    idempotency_key: str,
    who: Principal,
    cash_benefit_period: str | None = None,
    include_claims: bool = True,
    vouchers: VoucherClient | None = None,
    box: PiiCipher,
) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "region_code": region_code,
        "claim_ids": sorted(str(c) for c in claim_ids) if claim_ids is not None else None,
    }
    if cash_benefit_period is not None or not include_claims:
        shape.update(cash_benefit_period=cash_benefit_period, include_claims=include_claims)
    fingerprint = hashing.request_hash("payment_batch", shape)
    async with pool.acquire() as conn:
        old = await repo.batch_by_key(conn, idempotency_key)
        if old is None:
            candidates = await repo.approved_claims(conn, claim_ids) if include_claims else []
    if old is not None:
        if bytes(old["request_hash"]) != fingerprint:
            raise IdempotencyKeyReused(field="idempotency_key")
        return await read_batch(pool, old["id"])
    if claim_ids is not None:
        _refuse_unpayable(claim_ids, candidates, who)
    candidates = [
        c
        for c in candidates
        if c["status"] == "approved"
        and _covers_all(who, list(c["region_codes"]))
        and _within(region_code, list(c["region_codes"]))
    ]
    cash: list[dict[str, Any]] = []
    not_payable: list[dict[str, Any]] = []
    if cash_benefit_period is not None:
        cash, not_payable = await _cash_benefit_lines(
            pool, vouchers, cash_benefit_period, region_code, who
        )
    if not candidates and not cash:
        raise NothingToPay(
            field="claim_ids" if claim_ids is not None else "region_code",
            details={"not_payable": not_payable} if not_payable else None,
        )
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
            locked = (
                await repo.approved_claims(conn, [c["id"] for c in candidates], lock=True)
                if candidates
                else []
            )
            payable = [c for c in locked if c["status"] == "approved"]
            if claim_ids is not None and len(payable) != len(locked):
                _refuse_unpayable(claim_ids, locked, who)
            benefits = []
            if cash:
                await repo.lock_cash_benefits(conn)
                still = {
                    r["entry_id"]
                    for r in await repo.payable_cash_benefits(
                        conn, cash_benefit_period, [b["cash_entry_id"] for b in cash]
                    )
                }
                benefits = [b for b in cash if b["cash_entry_id"] in still]
            if not payable and not benefits:
                raise NothingToPay(field="region_code")
            batch_id = new_uuid()
            reference = "PB" + datetime.now(TZ).strftime("%Y%m%d") + secrets.token_hex(4).upper()
            lines = []
            for n, c in enumerate(payable, 1):
                acct = accounts[c["provider_id"]]
                lines.append(
                    {
                        "reference": f"{reference}-{n:04d}",
                        "batch_id": batch_id,
                        "claim_id": c["id"],
                        "provider_id": c["provider_id"],
                        "payee_name": acct.payee_name,
                        "bank_name": acct.bank_name,
                        "account_number": acct.account_number,
                        "amount_fen": int(c["total_fen"]),
                        "purpose": f"颐养补贴结算 {c['period']} 申领单 {c['id']}",
                    }
                )
            for n, b in enumerate(benefits, len(lines) + 1):
                lines.append(
                    {
                        "reference": f"{reference}-{n:04d}",
                        "batch_id": batch_id,
                        "payee_kind": "beneficiary",
                        "cash_entry_id": b["cash_entry_id"],
                        "beneficiary_id": b["beneficiary_id"],
                        "payee_name": b["payee_name"],
                        "bank_name": b["bank_name"],
                        "account_number": b["account_number"],
                        "amount_fen": b["amount_fen"],
                        "purpose": f"护理补贴 {b['period']} 发放单 {b['benefit_id']}",
                    }
                )
            for ln in lines:
                ln.setdefault("payee_kind", "provider")
            body = instruction_file(reference, lines)
            for ln in lines:  # the number is kept only encrypted (and masked)
                number = ln.pop("account_number")
                ln["account_number_enc"] = box.encrypt(
                    number, context=line_context(ln["reference"])
                )
                ln["account_number_masked"] = mask_number(number)
            await repo.insert_batch(
                conn,
                {
                    "id": batch_id,
                    "reference": reference,
                    "region_code": region_code,
                    "total_fen": sum(ln["amount_fen"] for ln in lines),
                    "line_count": len(lines),
                    "file_enc": seal_file(box, batch_id, body),
                    "file_sha256": hashlib.sha256(body).hexdigest(),
                    "idempotency_key": idempotency_key,
                    "request_hash": fingerprint,
                    "created_by": who.sub,
                    "not_payable": not_payable,
                },
                lines,
            )
            for c in payable:
                await repo.set_claim_status(conn, c["id"], "batched")
                await claim_repo.add_action(
                    conn, c["id"], "batch", who.sub, who.role.value, reference
                )
            return batch_id

    batch_id = await retry_transaction(attempt)
    return await read_batch(pool, batch_id)


def _within(region_code: str, regions: list[str]) -> bool:
    from services.common.regions import region_covers

    return all(region_covers(region_code, r) for r in regions)


def _refuse_unpayable(
    claim_ids: list[uuid.UUID], found: list[asyncpg.Record], who: Principal
) -> None:
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


async def read_batch(
    pool: asyncpg.Pool, batch_id: uuid.UUID, who: Principal | None = None
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        b = await repo.get_batch(conn, batch_id)
        if b is None or (who is not None and not who.covers_region(b["region_code"])):
            raise BatchNotFound(field="batch_id")
        lines = await repo.batch_lines(conn, batch_id)
    return {
        "id": str(b["id"]),
        "reference": b["reference"],
        "region_code": b["region_code"],
        "total_fen": int(b["total_fen"]),
        "count": b["line_count"],
        "file_sha256": b["file_sha256"],
        "created_by": b["created_by"],
        "created_at": b["created_at"].isoformat(),
        "not_payable": _json(b["not_payable"]),
        "lines": [
            {
                "reference": ln["reference"],
                "payee_kind": ln["payee_kind"],
                "claim_id": str(ln["claim_id"]) if ln["claim_id"] else None,
                "provider_id": ln["provider_id"],
                "beneficiary_id": ln["beneficiary_id"],
                "cash_benefit_entry_id": (
                    str(ln["cash_entry_id"]) if ln["cash_entry_id"] else None
                ),
                "payee_name": ln["payee_name"],
                "bank_name": ln["bank_name"],
                "account_number_masked": ln["account_number_masked"],
                "amount_fen": int(ln["amount_fen"]),
                "status": ln["status"],
                "entry_id": str(ln["entry_id"]) if ln["entry_id"] else None,
                "failure_reason": ln["failure_reason"],
            }
            for ln in lines
        ],
    }


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, (str, bytes)) else value


async def batch_file(
    pool: asyncpg.Pool, batch_id: uuid.UUID, who: Principal, box: PiiCipher
) -> tuple[bytes, str, str]:
    """The instruction file, decrypted to exactly the bytes produced at batch time."""
    async with pool.acquire() as conn:
        b = await repo.get_batch(conn, batch_id)
    if b is None or not who.covers_region(b["region_code"]):
        raise BatchNotFound(field="batch_id")
    return open_file(box, b["id"], bytes(b["file_enc"])), b["file_sha256"], b["reference"]


async def import_confirmation(
    pool: asyncpg.Pool, batch_id: uuid.UUID, raw: bytes, who: Principal
) -> dict[str, Any]:
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
            lines = {
                ln["reference"]: ln for ln in await repo.batch_lines(conn, batch_id, lock=True)
            }
            rows = parse_confirmation(raw, b["reference"], lines)
            plans, settle, result = [], [], {"paid": [], "failed": [], "unchanged": []}
            for row in rows:
                line = lines[row["line_reference"]]
                if line["status"] != "pending":
                    result["unchanged"].append(row["line_reference"])
                    continue
                if row["status"] == "paid" and line["payee_kind"] == "beneficiary":
                    owed = await repo.payable_of_cash_benefit(conn, line["cash_entry_id"])
                    plan = benefit_payment_plan(
                        row["line_reference"],
                        line["beneficiary_id"],
                        owed,
                        who.sub,
                        row["bank_reference"],
                    )
                    plans.append(plan)
                    settle.append((row, line, plan.id))
                    result["paid"].append(row["line_reference"])
                elif row["status"] == "paid":
                    owed = await repo.payable_of_claim(conn, line["claim_id"])
                    plan = payment_plan(
                        row["line_reference"],
                        line["provider_id"],
                        owed,
                        who.sub,
                        row["bank_reference"],
                    )
                    plans.append(plan)
                    settle.append((row, line, plan.id))
                    result["paid"].append(row["line_reference"])
                else:
                    settle.append((row, line, None))
                    result["failed"].append(row["line_reference"])
            if plans:
                accounts = await journal.resolve_accounts(
                    conn, (p.account for plan in plans for p in plan.postings)
                )
                await journal.write_entries(conn, head, plans, accounts)
            for row, line, entry_id in settle:
                await repo.settle_line(
                    conn,
                    row["line_reference"],
                    row["status"],
                    entry_id,
                    row["bank_reference"],
                    row["reason"],
                )
                if line["claim_id"] is None:
                    continue  # a cash benefit: a failed line leaves it payable again
                await repo.set_claim_status(
                    conn, line["claim_id"], "paid" if entry_id else "approved"
                )
                await claim_repo.add_action(
                    conn,
                    line["claim_id"],
                    "pay" if entry_id else "batch",
                    who.sub,
                    who.role.value,
                    f"{row['line_reference']}: {row['status']}"
                    + (f" ({row['reason']})" if row["reason"] else ""),
                )
            result["paid_fen"] = sum(int(lines[r]["amount_fen"]) for r in result["paid"])
            result["file_sha256"] = sha
            await repo.record_confirmation(conn, batch_id, sha, who.sub, result)
            return {**result, "duplicate_file": False}

    return await retry_transaction(attempt)
