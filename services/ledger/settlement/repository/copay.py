"""SQL of co-payments in settlement: how each was paid, which co-payment entries a provider
can claim, a claim's co-payment lines, and the co-payment side of reconciliation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.service import chart
from services.ledger.settlement.models import (
    Claim,
    ClaimCopayLine,
    CopaymentMethod,
)
from services.ledger.settlement.repository import (
    claim_regions_within,
    on_account,
    region_within,
)

COPAY_KINDS = ("copay_received", "copay_refunded")
ONLINE = "stripe"  # the one method whose co-payments the department collects (plans.copay)


@dataclass(frozen=True, slots=True)
class PaidHow:
    """How one co-payment was paid, as its event said."""

    copayment_id: str
    method: str
    redemption_id: str
    provider_id: str


@dataclass(frozen=True, slots=True)
class CopayEntry:
    """An online co-payment entry: what it credited to provider payable (received positive,
    refunded negative)."""

    entry_id: uuid.UUID
    copayment_id: str
    kind: str
    amount_fen: int
    posted_at: datetime
    redemption_id: str | None
    region_code: str | None = None


@dataclass(frozen=True, slots=True)
class CopayEntryCheck:
    """A co-payment entry of the period as reconciliation sees it (method None: never
    recorded; claimed_fen None: in no live claim)."""

    entry_id: uuid.UUID
    copayment_id: str
    provider_id: str | None
    method: str | None
    posted_fen: int
    claimed_fen: int | None


@dataclass(frozen=True, slots=True)
class StrayCopayLine:
    """A live claim co-payment line that names no online co-payment entry."""

    claim_id: uuid.UUID
    entry_id: uuid.UUID
    amount_fen: int


@dataclass(frozen=True, slots=True)
class CopaySide:
    entries: list[CopayEntryCheck]
    strays: list[StrayCopayLine]


async def record_methods(session: AsyncSession, rows: Sequence[PaidHow]) -> None:
    """Keep how each co-payment was paid (first word wins; the voucher service never
    changes a co-payment's method)."""
    if not rows:
        return
    await session.execute(
        pg_insert(CopaymentMethod)
        .values(
            [
                {
                    "copayment_id": r.copayment_id,
                    "method": r.method,
                    "redemption_id": r.redemption_id,
                    "provider_id": r.provider_id,
                }
                for r in rows
            ]
        )
        .on_conflict_do_nothing(index_elements=[col(CopaymentMethod.copayment_id)])
    )


async def claimable(session: AsyncSession, provider_id: str, period: str) -> list[CopayEntry]:
    """The provider's online co-payment entries of the period (received positive, refunded
    negative: what each credited to provider payable) in no live claim — and refunds of
    earlier periods still in no claim: a refund made after the co-payment was paid to the
    provider is recovered from the provider's next claim, whatever its period."""
    owed = -func.sum(col(Posting.amount_fen))
    stmt = (
        select(
            col(Entry.id),
            col(Entry.ref),
            col(Entry.kind),
            col(Entry.region_code),
            col(Entry.posted_at),
            col(CopaymentMethod.redemption_id),
            owed,
        )
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .join(
            CopaymentMethod,
            and_(
                col(CopaymentMethod.copayment_id) == col(Entry.ref),
                col(CopaymentMethod.method) == ONLINE,
            ),
        )
        .where(
            col(Entry.kind).in_(COPAY_KINDS),
            col(Entry.provider_id) == provider_id,
            or_(
                col(Entry.period) == period,
                and_(col(Entry.kind) == "copay_refunded", col(Entry.period) < period),
            ),
            ~exists().where(
                col(ClaimCopayLine.entry_id) == col(Entry.id), col(ClaimCopayLine.active)
            ),
        )
        .group_by(col(Entry.id), col(CopaymentMethod.redemption_id))
        .having(func.sum(col(Posting.amount_fen)) != 0)
        .order_by(col(Entry.seq))
    )
    return [
        CopayEntry(
            entry_id=eid,
            copayment_id=str(ref),
            kind=kind,
            amount_fen=int(amount),
            posted_at=at,
            redemption_id=rid,
            region_code=region,
        )
        for eid, ref, kind, region, at, rid, amount in await session.execute(stmt)
    ]


async def insert_lines(
    session: AsyncSession, claim_id: uuid.UUID, lines: Sequence[CopayEntry]
) -> None:
    if not lines:
        return
    await session.execute(
        insert(ClaimCopayLine),
        [
            {
                "claim_id": claim_id,
                "entry_id": r.entry_id,
                "copayment_id": r.copayment_id,
                "amount_fen": r.amount_fen,
            }
            for r in lines
        ],
    )


async def lines(session: AsyncSession, claim_id: uuid.UUID) -> list[CopayEntry]:
    """A claim's live co-payment lines, with their entries."""
    stmt = (
        select(
            col(ClaimCopayLine.entry_id),
            col(ClaimCopayLine.copayment_id),
            col(Entry.kind),
            col(ClaimCopayLine.amount_fen),
            col(Entry.posted_at),
            col(CopaymentMethod.redemption_id),
        )
        .join(Entry, col(Entry.id) == col(ClaimCopayLine.entry_id))
        .outerjoin(
            CopaymentMethod,
            col(CopaymentMethod.copayment_id) == col(ClaimCopayLine.copayment_id),
        )
        .where(col(ClaimCopayLine.claim_id) == claim_id, col(ClaimCopayLine.active))
        .order_by(col(Entry.seq))
    )
    return [
        CopayEntry(eid, cid, kind, int(amount), at, rid)
        for eid, cid, kind, amount, at, rid in await session.execute(stmt)
    ]


async def release_lines(session: AsyncSession, claim_id: uuid.UUID) -> None:
    """A claim that is abandoned (or cannot carry them) lets its co-payment lines go: they
    are claimable again."""
    await session.execute(
        update(ClaimCopayLine)
        .where(col(ClaimCopayLine.claim_id) == claim_id, col(ClaimCopayLine.active))
        .values(active=False)
    )
    await session.execute(
        update(Claim)
        .where(col(Claim.id) == claim_id)
        .values(copay_fen=0, total_fen=col(Claim.subsidy_fen) - col(Claim.recovered_fen))
    )


async def reconciliation(session: AsyncSession, period: str, prefix: str) -> CopaySide:
    """Co-payment entries of the period and region, how they were paid and what live claims
    hold of them; live claim co-payment lines that name no online co-payment entry."""
    claimed = (
        select(func.sum(col(ClaimCopayLine.amount_fen)))
        .where(col(ClaimCopayLine.entry_id) == col(Entry.id), col(ClaimCopayLine.active))
        .scalar_subquery()
    )
    entries = (
        select(
            col(Entry.id),
            col(Entry.ref),
            col(Entry.provider_id),
            col(CopaymentMethod.method),
            -func.sum(col(Posting.amount_fen)),
            claimed,
        )
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .outerjoin(CopaymentMethod, col(CopaymentMethod.copayment_id) == col(Entry.ref))
        .where(
            col(Entry.kind).in_(COPAY_KINDS),
            col(Entry.period) == period,
            region_within(Entry.region_code, prefix),
        )
        .group_by(col(Entry.id), col(CopaymentMethod.method))
        .order_by(col(Entry.seq))
    )
    strays = (
        select(
            col(ClaimCopayLine.claim_id),
            col(ClaimCopayLine.entry_id),
            col(ClaimCopayLine.amount_fen),
        )
        .join(Claim, col(Claim.id) == col(ClaimCopayLine.claim_id))
        .outerjoin(Entry, col(Entry.id) == col(ClaimCopayLine.entry_id))
        .outerjoin(CopaymentMethod, col(CopaymentMethod.copayment_id) == col(Entry.ref))
        .where(
            col(ClaimCopayLine.active),
            col(Claim.period) == period,
            claim_regions_within(prefix),
            or_(
                col(Entry.kind).is_(None),
                col(Entry.kind).not_in(COPAY_KINDS),
                col(CopaymentMethod.method).is_distinct_from(ONLINE),
            ),
        )
    )
    return CopaySide(
        entries=[
            CopayEntryCheck(
                eid, str(ref), provider, method, int(posted), None if c is None else int(c)
            )
            for eid, ref, provider, method, posted, c in await session.execute(entries)
        ],
        strays=[
            StrayCopayLine(cid, eid, int(amount))
            for cid, eid, amount in await session.execute(strays)
        ],
    )
