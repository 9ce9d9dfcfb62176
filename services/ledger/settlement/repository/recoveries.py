"""SQL of recoveries in settlement: the amounts providers owe back (`recovery_receivable`
entries, docs/ledger.md "Recoveries") that claims net, a claim's recovery lines, and what
reconciliation shows outstanding."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.service import chart
from services.ledger.settlement.models import Claim, ClaimRecoveryLine
from services.ledger.settlement.repository import on_account, region_within

RECEIVABLE = "recovery_receivable"


@dataclass(frozen=True, slots=True)
class RecoveryEntry:
    """A recovery owed back: what its entry debited to provider payable (positive)."""

    entry_id: uuid.UUID
    redemption_id: str
    amount_fen: int
    posted_at: datetime
    memo: str | None
    region_code: str | None = None
    claim_id: uuid.UUID | None = None
    claim_status: str | None = None
    provider_id: str | None = None


def _debited() -> tuple[Any, ...]:
    return (
        col(Entry.id),
        col(Entry.ref),
        func.sum(col(Posting.amount_fen)),
        col(Entry.posted_at),
        col(Entry.memo),
        col(Entry.region_code),
    )


async def claimable(session: AsyncSession, provider_id: str) -> list[RecoveryEntry]:
    """The provider's recoveries owed back in no live claim, oldest first (whatever their
    period: they wait for the provider's next claim)."""
    stmt = (
        select(*_debited())
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .where(
            col(Entry.kind) == RECEIVABLE,
            col(Entry.provider_id) == provider_id,
            ~exists().where(
                col(ClaimRecoveryLine.entry_id) == col(Entry.id), col(ClaimRecoveryLine.active)
            ),
        )
        .group_by(col(Entry.id))
        .order_by(col(Entry.seq))
    )
    return [
        RecoveryEntry(eid, str(ref), int(amount), at, memo, region)
        for eid, ref, amount, at, memo, region in await session.execute(stmt)
    ]


async def insert_lines(
    session: AsyncSession, claim_id: uuid.UUID, lines: Sequence[RecoveryEntry]
) -> None:
    if not lines:
        return
    await session.execute(
        insert(ClaimRecoveryLine),
        [
            {
                "claim_id": claim_id,
                "entry_id": r.entry_id,
                "redemption_id": r.redemption_id,
                "amount_fen": r.amount_fen,
            }
            for r in lines
        ],
    )


async def lines(session: AsyncSession, claim_id: uuid.UUID) -> list[RecoveryEntry]:
    stmt = (
        select(
            col(ClaimRecoveryLine.entry_id),
            col(ClaimRecoveryLine.redemption_id),
            col(ClaimRecoveryLine.amount_fen),
            col(Entry.posted_at),
            col(Entry.memo),
        )
        .join(Entry, col(Entry.id) == col(ClaimRecoveryLine.entry_id))
        .where(col(ClaimRecoveryLine.claim_id) == claim_id, col(ClaimRecoveryLine.active))
        .order_by(col(Entry.seq))
    )
    return [
        RecoveryEntry(eid, rid, int(amount), at, memo)
        for eid, rid, amount, at, memo in await session.execute(stmt)
    ]


async def release_lines(session: AsyncSession, claim_id: uuid.UUID) -> None:
    """A claim that is abandoned (or can no longer carry them) lets its recovery lines go:
    they wait for the provider's next claim."""
    await session.execute(
        update(ClaimRecoveryLine)
        .where(col(ClaimRecoveryLine.claim_id) == claim_id, col(ClaimRecoveryLine.active))
        .values(active=False)
    )
    await session.execute(
        update(Claim)
        .where(col(Claim.id) == claim_id)
        .values(recovered_fen=0, total_fen=col(Claim.subsidy_fen) + col(Claim.copay_fen))
    )


async def in_region(session: AsyncSession, prefix: str) -> list[RecoveryEntry]:
    """Every recovery owed back in the region, with the live claim netting it (if any)."""
    line = (
        select(col(ClaimRecoveryLine.entry_id), col(ClaimRecoveryLine.claim_id))
        .where(col(ClaimRecoveryLine.active))
        .subquery()
    )
    stmt = (
        select(*_debited(), line.c.claim_id, col(Claim.status), col(Entry.provider_id))
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .outerjoin(line, line.c.entry_id == col(Entry.id))
        .outerjoin(Claim, col(Claim.id) == line.c.claim_id)
        .where(col(Entry.kind) == RECEIVABLE, region_within(Entry.region_code, prefix))
        .group_by(col(Entry.id), line.c.claim_id, col(Claim.status))
        .order_by(col(Entry.seq))
    )
    return [
        RecoveryEntry(r[0], str(r[1]), int(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])
        for r in await session.execute(stmt)
    ]
