"""SQL of payment batches and bank confirmations: the claims a batch takes, the batch and its
lines, the confirmation files, and what a paid line clears from the payables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime, Uuid
from sqlmodel import col

from services.ledger.models import Account, Posting
from services.ledger.service import chart
from services.ledger.service.chart import AccountKey
from services.ledger.settlement.models import (
    BankConfirmation,
    Claim,
    ClaimCopayLine,
    ClaimLine,
    ClaimRecoveryLine,
    PaymentBatch,
    PaymentLine,
)
from services.ledger.settlement.repository import any_of, on_account


@dataclass(frozen=True, slots=True)
class BatchKey:
    """A batch found by its idempotency key, with the fingerprint of the request that made it."""

    id: uuid.UUID
    request_hash: bytes


@dataclass(frozen=True, slots=True)
class ClaimToPay:
    id: uuid.UUID
    provider_id: str
    period: str
    region_codes: list[str]
    status: str
    total_fen: int


@dataclass(frozen=True, slots=True)
class NewLine:
    """A payment line as a batch writes it (the account number already sealed)."""

    reference: str
    payee_kind: str
    claim_id: uuid.UUID | None
    provider_id: str | None
    cash_entry_id: uuid.UUID | None
    beneficiary_id: str | None
    payee_name: str
    bank_name: str
    account_number_enc: bytes
    account_number_masked: str
    amount_fen: int
    purpose: str


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A batch with its lines counted by status."""

    id: uuid.UUID
    reference: str
    region_code: str
    total_fen: int
    line_count: int
    created_by: str
    created_at: datetime
    pending: int
    paid: int
    failed: int
    paid_fen: int


async def batch_by_key(session: AsyncSession, key: str) -> BatchKey | None:
    row = (
        await session.execute(
            select(col(PaymentBatch.id), col(PaymentBatch.request_hash)).where(
                col(PaymentBatch.idempotency_key) == key
            )
        )
    ).first()
    return None if row is None else BatchKey(row[0], bytes(row[1]))


async def approved_claims(
    session: AsyncSession, ids: list[uuid.UUID] | None, *, lock: bool = False
) -> list[ClaimToPay]:
    """The named claims (whatever their status), or every approved claim; by id, locked
    FOR UPDATE when asked (the order every batch locks them in)."""
    stmt = select(
        col(Claim.id),
        col(Claim.provider_id),
        col(Claim.period),
        col(Claim.region_codes),
        col(Claim.status),
        col(Claim.total_fen),
    ).order_by(col(Claim.id))
    if ids is not None:
        stmt = stmt.where(col(Claim.id) == any_of(ids, Uuid))
    else:
        stmt = stmt.where(col(Claim.status) == "approved")
    if lock:
        stmt = stmt.with_for_update()
    return [
        ClaimToPay(cid, provider, period, list(regions), status, int(total))
        for cid, provider, period, regions, status, total in await session.execute(stmt)
    ]


async def insert_batch(
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    reference: str,
    region_code: str,
    file_enc: bytes,
    file_sha256: str,
    idempotency_key: str,
    request_hash: bytes,
    created_by: str,
    not_payable: list[dict[str, Any]],
    lines: Sequence[NewLine],
) -> None:
    await session.execute(
        insert(PaymentBatch).values(
            id=batch_id,
            reference=reference,
            region_code=region_code,
            total_fen=sum(ln.amount_fen for ln in lines),
            line_count=len(lines),
            file_enc=file_enc,
            file_sha256=file_sha256,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            created_by=created_by,
            not_payable=not_payable,
        )
    )
    await session.execute(
        insert(PaymentLine), [asdict(ln) | {"batch_id": batch_id} for ln in lines]
    )


async def get_batch(session: AsyncSession, batch_id: uuid.UUID) -> PaymentBatch | None:
    batch: PaymentBatch | None = await session.scalar(
        select(PaymentBatch).where(col(PaymentBatch.id) == batch_id)
    )
    return batch


async def batch_lines(
    session: AsyncSession, batch_id: uuid.UUID, *, lock: bool = False
) -> list[PaymentLine]:
    stmt = (
        select(PaymentLine)
        .where(col(PaymentLine.batch_id) == batch_id)
        .order_by(col(PaymentLine.reference))
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(await session.scalars(stmt))


async def confirmation(
    session: AsyncSession, batch_id: uuid.UUID, sha: str
) -> BankConfirmation | None:
    found: BankConfirmation | None = await session.get(BankConfirmation, (batch_id, sha))
    return found


async def record_confirmation(
    session: AsyncSession, batch_id: uuid.UUID, sha: str, by: str, result: dict[str, Any]
) -> None:
    await session.execute(
        insert(BankConfirmation).values(
            batch_id=batch_id, file_sha256=sha, imported_by=by, result=result
        )
    )


def _owed_by_account(entry_ids: Any, code: str) -> Any:
    """Per account of `code`: what the postings of `entry_ids` credited it, as a positive
    amount owed, with the account's dimensions."""
    return (
        select(
            col(Account.code),
            col(Account.program_code),
            col(Account.region_code),
            col(Account.funding_source),
            col(Account.provider_id),
            col(Account.beneficiary_id),
            col(Account.currency),
            -func.sum(col(Posting.amount_fen)),
        )
        .join(Account, on_account(code))
        .where(col(Posting.entry_id).in_(entry_ids))
        .group_by(col(Account.id))
        .order_by(col(Account.id))
    )


def _keys(rows: Any) -> list[tuple[AccountKey, int]]:
    return [
        (AccountKey(code, program, region, source, provider, person, currency.strip()), int(owed))
        for code, program, region, source, provider, person, currency, owed in rows
    ]


async def payable_of_claim(
    session: AsyncSession, claim_id: uuid.UUID
) -> list[tuple[AccountKey, int]]:
    """The provider-payable accounts (2201) a claim's live lines — redemptions and online
    co-payments, less the recoveries it nets — credited, net, and how much each (zero nets
    are left out)."""
    entries = union_all(
        select(col(ClaimLine.entry_id)).where(
            col(ClaimLine.claim_id) == claim_id, col(ClaimLine.active)
        ),
        select(col(ClaimCopayLine.entry_id)).where(
            col(ClaimCopayLine.claim_id) == claim_id, col(ClaimCopayLine.active)
        ),
        select(col(ClaimRecoveryLine.entry_id)).where(
            col(ClaimRecoveryLine.claim_id) == claim_id, col(ClaimRecoveryLine.active)
        ),
    )
    stmt = _owed_by_account(entries, chart.PROVIDER_PAYABLE).having(
        func.sum(col(Posting.amount_fen)) != 0
    )
    return _keys(await session.execute(stmt))


async def payable_of_cash_benefit(
    session: AsyncSession, entry_id: uuid.UUID
) -> list[tuple[AccountKey, int]]:
    """The beneficiary-payable accounts (2202) a cash benefit entry credited, and how much."""
    stmt = _owed_by_account([entry_id], chart.BENEFICIARY_PAYABLE)
    return [(key, owed) for key, owed in _keys(await session.execute(stmt)) if owed > 0]


async def settle_line(
    session: AsyncSession,
    reference: str,
    status: str,
    entry_id: uuid.UUID | None,
    bank_reference: str | None,
    reason: str | None,
) -> None:
    await session.execute(
        update(PaymentLine)
        .where(col(PaymentLine.reference) == reference)
        .values(
            status=status,
            entry_id=entry_id,
            bank_reference=bank_reference,
            failure_reason=reason,
            settled_at=func.clock_timestamp(),
        )
    )


async def set_claim_status(session: AsyncSession, claim_id: uuid.UUID, status: str) -> None:
    """A batch's step of a claim (batched, paid, back to approved): the status only."""
    await session.execute(update(Claim).where(col(Claim.id) == claim_id).values(status=status))


async def list_batches(
    session: AsyncSession,
    region_prefix: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[BatchSummary]:
    """Batches whose region starts with the prefix, newest first, after a keyset cursor,
    with their lines counted by status."""
    status = col(PaymentLine.status)
    counted = func.count(col(PaymentLine.reference))
    stmt = (
        select(
            col(PaymentBatch.id),
            col(PaymentBatch.reference),
            col(PaymentBatch.region_code),
            col(PaymentBatch.total_fen),
            col(PaymentBatch.line_count),
            col(PaymentBatch.created_by),
            col(PaymentBatch.created_at),
            counted.filter(status == "pending"),
            counted.filter(status == "paid"),
            counted.filter(status == "failed"),
            func.coalesce(func.sum(col(PaymentLine.amount_fen)).filter(status == "paid"), 0),
        )
        .outerjoin(PaymentLine, col(PaymentLine.batch_id) == col(PaymentBatch.id))
        .where(col(PaymentBatch.region_code).startswith(region_prefix))
        .group_by(col(PaymentBatch.id))
        .order_by(col(PaymentBatch.created_at).desc(), col(PaymentBatch.id).desc())
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(
            tuple_(col(PaymentBatch.created_at), col(PaymentBatch.id))
            < tuple_(literal(after[0], DateTime(timezone=True)), literal(after[1], Uuid))
        )
    return [_summary(*row) for row in await session.execute(stmt)]


def _summary(
    bid: uuid.UUID,
    reference: str,
    region: str,
    total: int,
    count: int,
    by: str,
    at: datetime | None,
    pending: int,
    paid: int,
    failed: int,
    paid_fen: int,
) -> BatchSummary:
    assert at is not None  # NOT NULL DEFAULT clock_timestamp()
    return BatchSummary(
        bid,
        reference,
        region,
        int(total),
        count,
        by,
        at,
        int(pending),
        int(paid),
        int(failed),
        int(paid_fen),
    )
