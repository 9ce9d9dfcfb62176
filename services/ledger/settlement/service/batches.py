"""Payment batches: approved claims -> a payment instruction file; the bank's confirmation
file -> the payments posted (provider payable Dr / treasury cash Cr).

Rules (docs/settlement.md, "Payment batches"; the pure ones in batch_rules.py):
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
- Maker–checker: the officer who made the batch may not import its confirmation (the file
  that posts the payments): MAKER_CHECKER_VIOLATION, nothing read or posted.

Creating a batch and importing a confirmation retry on serialisation failures, one unit of
work per attempt; the other services are asked before, never inside one. The payment
entries are posted by the ledger's own posting code on the unit of work's connection, in its
transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.crypto import PiiCipher
from services.common.db import Database, raw_connection, retry_transaction
from services.common.errors import IdempotencyKeyReused
from services.common.ids import new_uuid
from services.common.regions import significant_prefix
from services.ledger.repository import posting as posting_sql
from services.ledger.service import hashing
from services.ledger.service.clock import TZ
from services.ledger.service.clock import iso as _iso
from services.ledger.service.plans import EntryPlan
from services.ledger.settlement.clients import BankAccount, ProviderClient, VoucherClient
from services.ledger.settlement.errors import BankAccountMissing, BatchNotFound, NothingToPay
from services.ledger.settlement.models import PaymentBatch, PaymentLine
from services.ledger.settlement.repository import batches as repo
from services.ledger.settlement.repository import cash_benefits as cash_repo
from services.ledger.settlement.repository import claims as claim_repo
from services.ledger.settlement.repository.batches import ClaimToPay, NewLine
from services.ledger.settlement.schemas import (
    BatchLineRead,
    BatchPage,
    BatchRead,
    BatchSummaryRead,
    ConfirmationOutcome,
    ConfirmationRead,
    NotPayableCashBenefit,
)
from services.ledger.settlement.service.batch_rules import (
    batch_state,
    cursor_of,
    ensure_not_maker,
    parse_cursor,
    payable,
    refuse_unpayable,
)
from services.ledger.settlement.service.cash_benefits import BenefitToPay, benefits_to_pay
from services.ledger.settlement.service.files import (
    Confirmed,
    Instruction,
    benefit_payment_plan,
    instruction_file,
    parse_confirmation,
    payment_plan,
)
from services.ledger.settlement.service.secrets import (
    line_context,
    mask_number,
    open_file,
    seal_file,
)


async def create_batch(
    db: Database,
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
) -> BatchRead:
    shape: dict[str, Any] = {
        "region_code": region_code,
        "claim_ids": sorted(str(c) for c in claim_ids) if claim_ids is not None else None,
    }
    if cash_benefit_period is not None or not include_claims:
        shape.update(cash_benefit_period=cash_benefit_period, include_claims=include_claims)
    fingerprint = hashing.request_hash("payment_batch", shape)
    async with db.unit_of_work() as session:
        old = await repo.batch_by_key(session, idempotency_key)
        candidates = (
            await repo.approved_claims(session, claim_ids) if old is None and include_claims else []
        )
    if old is not None:
        if old.request_hash != fingerprint:
            raise IdempotencyKeyReused(field="idempotency_key")
        async with db.unit_of_work() as session:
            return await read_batch(session, old.id)
    if claim_ids is not None:
        refuse_unpayable(claim_ids, candidates, who)
    candidates = [c for c in candidates if payable(c, who, region_code)]
    cash: list[BenefitToPay] = []
    not_payable: list[NotPayableCashBenefit] = []
    if cash_benefit_period is not None:
        cash, not_payable = await benefits_to_pay(
            db, vouchers, cash_benefit_period, region_code, who
        )
    if not candidates and not cash:
        raise NothingToPay(
            field="claim_ids" if claim_ids is not None else "region_code",
            details={"not_payable": [b.model_dump() for b in not_payable]} if not_payable else None,
        )
    accounts: dict[str, BankAccount] = {}
    for pid in sorted({c.provider_id for c in candidates}):
        acct = await providers.bank_account(pid)
        if acct is None:
            raise BankAccountMissing(field="claim_ids", details={"provider_id": pid})
        accounts[pid] = acct

    async def attempt() -> uuid.UUID:
        async with db.unit_of_work() as session:
            old = await repo.batch_by_key(session, idempotency_key)
            if old is not None:
                return old.id
            return await _write_batch(
                session,
                candidates=candidates,
                claim_ids=claim_ids,
                cash=cash,
                cash_benefit_period=cash_benefit_period,
                accounts=accounts,
                region_code=region_code,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                not_payable=not_payable,
                who=who,
                box=box,
            )

    batch_id = await retry_transaction(attempt)
    async with db.unit_of_work() as session:
        return await read_batch(session, batch_id)


async def _write_batch(
    session: AsyncSession,
    *,
    candidates: list[ClaimToPay],
    claim_ids: list[uuid.UUID] | None,
    cash: list[BenefitToPay],
    cash_benefit_period: str | None,
    accounts: dict[str, BankAccount],
    region_code: str,
    idempotency_key: str,
    fingerprint: bytes,
    not_payable: list[NotPayableCashBenefit],
    who: Principal,
    box: PiiCipher,
) -> uuid.UUID:
    """Lock what the batch takes, check it is still payable, write the batch, its lines and
    its sealed file, and move its claims to `batched`."""
    locked = (
        await repo.approved_claims(session, [c.id for c in candidates], lock=True)
        if candidates
        else []
    )
    claims = [c for c in locked if c.status == "approved"]
    if claim_ids is not None and len(claims) != len(locked):
        refuse_unpayable(claim_ids, locked, who)
    benefits: list[BenefitToPay] = []
    if cash and cash_benefit_period is not None:
        await cash_repo.lock_cash_benefits(session)
        still = {
            b.entry_id
            for b in await cash_repo.payable_cash_benefits(
                session, cash_benefit_period, [b.cash_entry_id for b in cash]
            )
        }
        benefits = [b for b in cash if b.cash_entry_id in still]
    if not claims and not benefits:
        raise NothingToPay(field="region_code")
    batch_id = new_uuid()
    reference = "PB" + datetime.now(TZ).strftime("%Y%m%d") + secrets.token_hex(4).upper()
    lines: list[tuple[Instruction, NewLine]] = []
    for n, c in enumerate(claims, 1):
        acct = accounts[c.provider_id]
        pay = Instruction(
            reference=f"{reference}-{n:04d}",
            payee_name=acct.payee_name,
            bank_name=acct.bank_name,
            account_number=acct.account_number,
            amount_fen=c.total_fen,
            purpose=f"颐养补贴结算 {c.period} 申领单 {c.id}",
        )
        lines.append((pay, _sealed(box, pay, "provider", claim_id=c.id, provider_id=c.provider_id)))
    for n, b in enumerate(benefits, len(lines) + 1):
        pay = Instruction(
            reference=f"{reference}-{n:04d}",
            payee_name=b.payee_name,
            bank_name=b.bank_name,
            account_number=b.account_number,
            amount_fen=b.benefit.amount_fen,
            purpose=f"护理补贴 {b.benefit.period} 发放单 {b.benefit.benefit_id}",
        )
        lines.append(
            (
                pay,
                _sealed(
                    box,
                    pay,
                    "beneficiary",
                    cash_entry_id=b.cash_entry_id,
                    beneficiary_id=b.benefit.beneficiary_id,
                ),
            )
        )
    body = instruction_file(reference, [pay for pay, _ in lines])
    await repo.insert_batch(
        session,
        batch_id=batch_id,
        reference=reference,
        region_code=region_code,
        file_enc=seal_file(box, batch_id, body),
        file_sha256=hashlib.sha256(body).hexdigest(),
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        created_by=who.sub,
        not_payable=[b.model_dump() for b in not_payable],
        lines=[line for _, line in lines],
    )
    for c in claims:
        await repo.set_claim_status(session, c.id, "batched")
        await claim_repo.add_action(session, c.id, "batch", who.sub, who.role.value, reference)
    return batch_id


def _sealed(
    box: PiiCipher,
    pay: Instruction,
    payee_kind: str,
    *,
    claim_id: uuid.UUID | None = None,
    provider_id: str | None = None,
    cash_entry_id: uuid.UUID | None = None,
    beneficiary_id: str | None = None,
) -> NewLine:
    """The line as stored: the account number only encrypted (bound to the line) and masked."""
    return NewLine(
        reference=pay.reference,
        payee_kind=payee_kind,
        claim_id=claim_id,
        provider_id=provider_id,
        cash_entry_id=cash_entry_id,
        beneficiary_id=beneficiary_id,
        payee_name=pay.payee_name,
        bank_name=pay.bank_name,
        account_number_enc=box.encrypt(pay.account_number, context=line_context(pay.reference)),
        account_number_masked=mask_number(pay.account_number),
        amount_fen=pay.amount_fen,
        purpose=pay.purpose,
    )


async def read_batch(
    session: AsyncSession, batch_id: uuid.UUID, who: Principal | None = None
) -> BatchRead:
    b = await _visible_batch(session, batch_id, who)
    lines = await repo.batch_lines(session, batch_id)
    return BatchRead(
        id=str(b.id),
        reference=b.reference,
        region_code=b.region_code,
        total_fen=b.total_fen,
        count=b.line_count,
        file_sha256=b.file_sha256,
        created_by=b.created_by,
        created_at=_iso(b.created_at) or "",
        not_payable=[NotPayableCashBenefit.model_validate(n) for n in b.not_payable],
        lines=[_line(ln) for ln in lines],
    )


def _line(ln: PaymentLine) -> BatchLineRead:
    return BatchLineRead(
        reference=ln.reference,
        payee_kind=ln.payee_kind,
        claim_id=str(ln.claim_id) if ln.claim_id else None,
        provider_id=ln.provider_id,
        beneficiary_id=ln.beneficiary_id,
        cash_benefit_entry_id=str(ln.cash_entry_id) if ln.cash_entry_id else None,
        payee_name=ln.payee_name,
        bank_name=ln.bank_name,
        account_number_masked=ln.account_number_masked,
        amount_fen=ln.amount_fen,
        status=ln.status,
        entry_id=str(ln.entry_id) if ln.entry_id else None,
        failure_reason=ln.failure_reason,
    )


async def _visible_batch(
    session: AsyncSession, batch_id: uuid.UUID, who: Principal | None
) -> PaymentBatch:
    """The batch, if the caller's scope covers its region (else it does not exist for them)."""
    b = await repo.get_batch(session, batch_id)
    if b is None or (who is not None and not who.covers_region(b.region_code)):
        raise BatchNotFound(field="batch_id")
    return b


async def batch_file(
    session: AsyncSession, batch_id: uuid.UUID, who: Principal, box: PiiCipher
) -> tuple[bytes, str, str]:
    """The instruction file, decrypted to exactly the bytes produced at batch time, with its
    SHA-256 and the batch's reference."""
    b = await _visible_batch(session, batch_id, who)
    return open_file(box, b.id, bytes(b.file_enc)), b.file_sha256, b.reference


async def import_confirmation(
    db: Database, batch_id: uuid.UUID, raw: bytes, who: Principal
) -> ConfirmationRead:
    sha = hashlib.sha256(raw).hexdigest()

    async def attempt() -> ConfirmationRead:
        async with db.unit_of_work() as session:
            return await _import(session, batch_id, raw, sha, who)

    return await retry_transaction(attempt)


async def _import(
    session: AsyncSession, batch_id: uuid.UUID, raw: bytes, sha: str, who: Principal
) -> ConfirmationRead:
    # The batch is read first: SQLAlchemy's asyncpg adapter sends BEGIN with the session's
    # first statement, so the raw posting statements must come after one to be inside the
    # unit of work. (Reading the append-only batch takes no lock; the head is still locked
    # before anything else is.)
    b = await _visible_batch(session, batch_id, who)
    ensure_not_maker(b.created_by, who)
    posting = await raw_connection(session)
    # One writer of a batch at a time: the key of its confirmations, then the heads of the
    # books its payments write (locked before their accounts are read).
    await posting_sql.lock_key(posting, f"payment_batch:{batch_id}")
    seen = await repo.confirmation(session, batch_id, sha)
    if seen is not None:
        return ConfirmationRead.model_validate({**seen.result, "duplicate_file": True})
    lines = {ln.reference: ln for ln in await repo.batch_lines(session, batch_id, lock=True)}
    rows = parse_confirmation(raw, b.reference, {ref: ln.amount_fen for ref, ln in lines.items()})
    plans: list[EntryPlan] = []
    settle: list[tuple[Confirmed, PaymentLine, uuid.UUID | None]] = []
    result = ConfirmationOutcome(paid=[], failed=[], unchanged=[], paid_fen=0, file_sha256=sha)
    for row in rows:
        line = lines[row.line_reference]
        if line.status != "pending":
            result["unchanged"].append(row.line_reference)
            continue
        if row.status != "paid":
            settle.append((row, line, None))
            result["failed"].append(row.line_reference)
            continue
        plan = await _payment(session, row, line, who)
        plans.append(plan)
        settle.append((row, line, plan.id))
        result["paid"].append(row.line_reference)
    if plans:
        heads = await posting_sql.lock_heads(posting, posting_sql.books_of(plans))
        accounts = await posting_sql.resolve_accounts(
            posting, (p.account for plan in plans for p in plan.postings)
        )
        await posting_sql.write_entries(posting, heads, plans, accounts)
    for row, line, entry_id in settle:
        await _settle(session, row, line, entry_id, who)
    result["paid_fen"] = sum(lines[r].amount_fen for r in result["paid"])
    await repo.record_confirmation(session, batch_id, sha, who.sub, dict(result))
    return ConfirmationRead.model_validate({**result, "duplicate_file": False})


async def _payment(
    session: AsyncSession, row: Confirmed, line: PaymentLine, who: Principal
) -> EntryPlan:
    """The entry that pays a confirmed line: the payables its claim (or cash benefit)
    credited, cleared against treasury cash (or co-payment clearing)."""
    if line.payee_kind == "beneficiary" and line.cash_entry_id and line.beneficiary_id:
        owed = await repo.payable_of_cash_benefit(session, line.cash_entry_id)
        return benefit_payment_plan(
            row.line_reference, line.beneficiary_id, owed, who.sub, row.bank_reference
        )
    assert line.claim_id is not None and line.provider_id is not None  # ck_payment_line_payee
    owed = await repo.payable_of_claim(session, line.claim_id)
    return payment_plan(row.line_reference, line.provider_id, owed, who.sub, row.bank_reference)


async def _settle(
    session: AsyncSession,
    row: Confirmed,
    line: PaymentLine,
    entry_id: uuid.UUID | None,
    who: Principal,
) -> None:
    """Mark the line paid (with its entry) or failed; a claim's line moves its claim to paid,
    or back to approved (a failed cash benefit line leaves the benefit payable again)."""
    await repo.settle_line(
        session, row.line_reference, row.status, entry_id, row.bank_reference, row.reason
    )
    if line.claim_id is None:
        return
    await repo.set_claim_status(session, line.claim_id, "paid" if entry_id else "approved")
    await claim_repo.add_action(
        session,
        line.claim_id,
        "pay" if entry_id else "batch",
        who.sub,
        who.role.value,
        f"{row.line_reference}: {row.status}" + (f" ({row.reason})" if row.reason else ""),
    )


async def list_batches(
    session: AsyncSession,
    who: Principal,
    *,
    region_code: str | None,
    limit: int,
    cursor: str | None,
) -> BatchPage:
    """Batches within `region_code` (default the caller's whole scope), newest first; a
    batch is seen by whoever's scope covers the region it was made for."""
    scope = region_code or who.region or ""
    who.ensure_region(scope)
    rows = await repo.list_batches(
        session, significant_prefix(scope), limit + 1, parse_cursor(cursor)
    )
    items = [
        BatchSummaryRead(
            id=str(r.id),
            reference=r.reference,
            region_code=r.region_code,
            total_fen=r.total_fen,
            count=r.line_count,
            created_by=r.created_by,
            created_at=_iso(r.created_at) or "",
            lines_pending=r.pending,
            lines_paid=r.paid,
            lines_failed=r.failed,
            paid_fen=r.paid_fen,
            state=batch_state(r.pending, r.paid, r.failed),
        )
        for r in rows[:limit]
        if who.covers_region(r.region_code)
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return BatchPage(items=items, next_cursor=cursor_of(last.created_at, last.id) if last else None)
