"""SQL of claims: what a provider can claim, the claim and its lines, its history. Every
function runs on the caller's session (the caller owns the transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.service import chart
from services.ledger.settlement.models import Claim, ClaimAction, ClaimLine
from services.ledger.settlement.repository import (
    any_of,
    is_recovered_unclaimed,
    is_reversed,
    on_account,
)
from services.ledger.settlement.repository import copay as copay_repo
from services.ledger.settlement.repository import recoveries as recoveries_repo

LIVE_STATUSES_HIDDEN = ("pending", "abandoned")  # never listed: not (or no longer) a claim


@dataclass(frozen=True, slots=True)
class ClaimableRedemption:
    """A posted redemption a claim can carry, with what it owes the provider (2201)."""

    redemption_id: str
    entry_id: uuid.UUID
    region_code: str | None
    posted_at: datetime
    voucher_id: str | None
    beneficiary_id: str | None
    amount_fen: int


@dataclass(frozen=True, slots=True)
class RedemptionFact:
    """What the ledger knows of an asked-for redemption id (entry_id None: never posted)."""

    redemption_id: str
    entry_id: uuid.UUID | None
    provider_id: str | None
    period: str | None
    region_code: str | None
    posted_at: datetime | None
    voucher_id: str | None
    beneficiary_id: str | None
    amount_fen: int
    reversed: bool
    claim_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class ClaimedRedemption:
    """A live line of a claim, with its entry's facts."""

    redemption_id: str
    entry_id: uuid.UUID
    amount_fen: int
    posted_at: datetime
    voucher_id: str | None
    beneficiary_id: str | None


def _live_claim_line(redemption_id: Any) -> Any:
    return and_(col(ClaimLine.redemption_id) == redemption_id, col(ClaimLine.active))


async def lock_provider(session: AsyncSession, provider_id: str) -> None:
    """Serialise claim preparation per provider (a transaction-scoped advisory lock)."""
    key = func.hashtextextended(literal("claim:" + provider_id, Text), 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def claimable(
    session: AsyncSession, provider_id: str, period: str
) -> list[ClaimableRedemption]:
    """Posted redemptions of the provider in the period, not reversed, not recovered before
    a claim, in no live claim."""
    stmt = (
        select(
            col(Entry.ref),
            col(Entry.id),
            col(Entry.region_code),
            col(Entry.posted_at),
            col(Entry.voucher_id),
            col(Entry.beneficiary_id),
            -func.sum(col(Posting.amount_fen)),
        )
        .join(Posting, and_(col(Posting.entry_id) == col(Entry.id), col(Posting.line) > 0))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .where(
            col(Entry.kind) == "redemption",
            col(Entry.provider_id) == provider_id,
            col(Entry.period) == period,
            ~is_reversed(),
            ~is_recovered_unclaimed(),
            ~exists().where(_live_claim_line(col(Entry.ref))),
        )
        .group_by(col(Entry.id))
        .order_by(col(Entry.seq))
    )
    return [
        ClaimableRedemption(str(ref), eid, region, at, voucher, person, int(amount))
        for ref, eid, region, at, voucher, person, amount in await session.execute(stmt)
    ]


async def redemption_facts(session: AsyncSession, ids: list[str]) -> list[RedemptionFact]:
    """For each asked id: its redemption entry (if posted), provider, period, whether it is
    reversed and the live claim holding it."""
    asked = func.unnest(bindparam(None, ids, type_=ARRAY(Text))).table_valued("id")
    k = asked.render_derived(name="k")
    owed = (
        select(-func.sum(col(Posting.amount_fen)))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .where(col(Posting.entry_id) == col(Entry.id))
        .scalar_subquery()
    )
    holder = select(col(ClaimLine.claim_id)).where(_live_claim_line(k.c.id)).scalar_subquery()
    stmt = select(
        k.c.id,
        col(Entry.id),
        col(Entry.provider_id),
        col(Entry.period),
        col(Entry.region_code),
        col(Entry.posted_at),
        col(Entry.voucher_id),
        col(Entry.beneficiary_id),
        owed,
        is_reversed(),
        holder,
    ).select_from(
        k.outerjoin(Entry, and_(col(Entry.kind) == "redemption", col(Entry.ref) == k.c.id))
    )
    return [
        RedemptionFact(
            redemption_id=str(rid),
            entry_id=eid,
            provider_id=provider,
            period=period,
            region_code=region,
            posted_at=at,
            voucher_id=voucher,
            beneficiary_id=person,
            amount_fen=int(amount or 0),
            reversed=bool(reversed_),
            claim_id=holder_id,
        )
        for (
            rid,
            eid,
            provider,
            period,
            region,
            at,
            voucher,
            person,
            amount,
            reversed_,
            holder_id,
        ) in await session.execute(stmt)
    ]


async def insert_claim(
    session: AsyncSession,
    *,
    claim_id: uuid.UUID,
    provider_id: str,
    period: str,
    region_codes: list[str],
    idempotency_key: str | None,
    request_hash: bytes,
    submitted_by: str,
    lines: Sequence[ClaimableRedemption | RedemptionFact],
    copay_fen: int = 0,
    recovered_fen: int = 0,
) -> None:
    """The claim (status pending) and its redemption lines (its co-payment lines:
    repository/copay.py; its recovery lines: repository/recoveries.py)."""
    subsidy = sum(r.amount_fen for r in lines)
    await session.execute(
        insert(Claim).values(
            id=claim_id,
            provider_id=provider_id,
            period=period,
            region_codes=region_codes,
            status="pending",
            total_fen=subsidy + copay_fen - recovered_fen,
            subsidy_fen=subsidy,
            copay_fen=copay_fen,
            recovered_fen=recovered_fen,
            line_count=len(lines),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            submitted_by=submitted_by,
        )
    )
    if lines:
        await session.execute(
            insert(ClaimLine),
            [
                {
                    "claim_id": claim_id,
                    "redemption_id": r.redemption_id,
                    "entry_id": r.entry_id,
                    "amount_fen": r.amount_fen,
                }
                for r in lines
            ],
        )


async def drop_lines(session: AsyncSession, claim_id: uuid.UUID, ids: list[str]) -> None:
    """Take lines out of a pending claim (the voucher service refused them); when what is left
    cannot carry the claim's net co-payment refunds, its co-payment lines go too, and when it
    cannot carry its recoveries, they go as well (both wait for a later claim)."""
    await session.execute(
        update(ClaimLine)
        .where(col(ClaimLine.claim_id) == claim_id, col(ClaimLine.redemption_id) == any_of(ids))
        .values(active=False)
    )
    live = (col(ClaimLine.claim_id) == claim_id, col(ClaimLine.active))
    subsidy = select(func.coalesce(func.sum(col(ClaimLine.amount_fen)), 0)).where(*live)
    left = await session.scalar(subsidy)
    copay = await session.scalar(select(col(Claim.copay_fen)).where(col(Claim.id) == claim_id))
    if copay and int(left or 0) + copay <= 0:  # net refunds cannot ride on what is left
        await copay_repo.release_lines(session, claim_id)
        copay = 0
    recovered = await session.scalar(
        select(col(Claim.recovered_fen)).where(col(Claim.id) == claim_id)
    )
    if recovered and int(left or 0) + int(copay or 0) - recovered <= 0:
        await recoveries_repo.release_lines(session, claim_id)
    await session.execute(
        update(Claim)
        .where(col(Claim.id) == claim_id)
        .values(
            subsidy_fen=subsidy.scalar_subquery(),
            line_count=select(func.count()).where(*live).scalar_subquery(),
            total_fen=subsidy.scalar_subquery() + col(Claim.copay_fen) - col(Claim.recovered_fen),
        )
    )


async def set_status(
    session: AsyncSession, claim_id: uuid.UUID, status: str, actor: str | None = None
) -> None:
    """Move a claim along the workflow, stamping who and when where the step has them."""
    values: dict[str, Any] = {"status": status}
    if status == "submitted":
        values["submitted_at"] = func.clock_timestamp()
    elif status == "approved":
        values |= {"approved_by": actor, "approved_at": func.clock_timestamp()}
    elif status == "rejected":
        values |= {"rejected_by": actor, "rejected_at": func.clock_timestamp()}
    await session.execute(update(Claim).where(col(Claim.id) == claim_id).values(values))


async def add_action(
    session: AsyncSession,
    claim_id: uuid.UUID,
    action: str,
    actor: str,
    role: str,
    comment: str | None = None,
    reasons: list[str] | None = None,
) -> None:
    await session.execute(
        insert(ClaimAction).values(
            claim_id=claim_id,
            action=action,
            actor=actor,
            role=role,
            comment=comment,
            reasons=reasons,
        )
    )


def _claims() -> Any:
    # populate_existing: a claim read again in the same session after an UPDATE statement
    # shows the row as it is now, not as the identity map first saw it.
    return select(Claim).execution_options(populate_existing=True)


async def get_claim(
    session: AsyncSession, claim_id: uuid.UUID, *, lock: bool = False
) -> Claim | None:
    stmt = _claims().where(col(Claim.id) == claim_id)
    if lock:
        stmt = stmt.with_for_update()
    claim: Claim | None = await session.scalar(stmt)
    return claim


async def claim_by_key(session: AsyncSession, key: str) -> Claim | None:
    claim: Claim | None = await session.scalar(_claims().where(col(Claim.idempotency_key) == key))
    return claim


async def pending_claim(session: AsyncSession, provider_id: str, period: str) -> Claim | None:
    stmt = (
        _claims()
        .where(
            col(Claim.provider_id) == provider_id,
            col(Claim.period) == period,
            col(Claim.status) == "pending",
        )
        .order_by(col(Claim.created_at))
        .limit(1)
    )
    claim: Claim | None = await session.scalar(stmt)
    return claim


async def lines(session: AsyncSession, claim_id: uuid.UUID) -> list[ClaimedRedemption]:
    stmt = (
        select(
            col(ClaimLine.redemption_id),
            col(ClaimLine.entry_id),
            col(ClaimLine.amount_fen),
            col(Entry.posted_at),
            col(Entry.voucher_id),
            col(Entry.beneficiary_id),
        )
        .join(Entry, col(Entry.id) == col(ClaimLine.entry_id))
        .where(col(ClaimLine.claim_id) == claim_id, col(ClaimLine.active))
        .order_by(col(Entry.seq))
    )
    return [
        ClaimedRedemption(rid, eid, int(amount), at, voucher, person)
        for rid, eid, amount, at, voucher, person in await session.execute(stmt)
    ]


async def actions(session: AsyncSession, claim_id: uuid.UUID) -> list[ClaimAction]:
    stmt = (
        select(ClaimAction)
        .where(col(ClaimAction.claim_id) == claim_id)
        .order_by(col(ClaimAction.id))
    )
    return list(await session.scalars(stmt))


async def list_claims(
    session: AsyncSession,
    *,
    provider_id: str | None,
    status: str | None,
    period: str | None,
    limit: int,
) -> list[Claim]:
    stmt = _claims().where(col(Claim.status).not_in(LIVE_STATUSES_HIDDEN))
    if provider_id is not None:
        stmt = stmt.where(col(Claim.provider_id) == provider_id)
    if status is not None:
        stmt = stmt.where(col(Claim.status) == status)
    if period is not None:
        stmt = stmt.where(col(Claim.period) == period)
    stmt = stmt.order_by(col(Claim.created_at).desc()).limit(limit)
    return list(await session.scalars(stmt))
