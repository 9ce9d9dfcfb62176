"""Voids and claims of redemptions (SQLAlchemy on `Redemption` and `Voucher`): the row locks,
the subsidy given back, the void and claim marks. The trigger redemption_guard
(migrations/sql/redemption_guard.sql) refuses anything else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import any_, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Redemption, Voucher


@dataclass(frozen=True, slots=True)
class RestoredVoucher:
    """A voucher after a void gave its subsidy back, with what the ledger's event needs."""

    id: uuid.UUID
    beneficiary_id: uuid.UUID
    balance_fen: int
    program_code: str
    period: str
    region_code: str
    budget_region_code: str
    funding_shares: dict[str, int]
    # The voucher had already ended (a death, an exit, a move revoked or expired it, its
    # balance released): the subsidy is released with it rather than put back to spend.
    ended: bool = False


@dataclass(frozen=True, slots=True)
class ClaimState:
    id: uuid.UUID
    status: str
    claimed_at: datetime | None
    claim_id: str | None


# A voucher no one may spend any more whose unused balance went back to the budget.
ENDED = ("revoked", "expired")


def _ids(ids: list[uuid.UUID]) -> Any:
    """The ids as one array parameter (a claim names up to 10,000 redemptions)."""
    return literal(ids, ARRAY(UUID(as_uuid=True)))


async def lock_redemption(session: AsyncSession, redemption_id: uuid.UUID) -> Redemption | None:
    return await session.scalar(
        select(Redemption)
        .where(col(Redemption.id) == redemption_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def voucher_balance(session: AsyncSession, voucher_id: uuid.UUID) -> int:
    balance = await session.scalar(
        select(col(Voucher.balance_fen)).where(col(Voucher.id) == voucher_id)
    )
    return int(balance or 0)


async def restore_balance(
    session: AsyncSession, *, voucher_id: uuid.UUID, subsidy_fen: int, day_on: date, now: datetime
) -> RestoredVoucher:
    """Give a voided redemption's subsidy back (and its use of the day's limits). On a voucher
    that has ended since (revoked or expired: a death, an exit or a move the same day) nobody
    may spend it again: the subsidy joins the voucher's `released_fen` instead, and the caller
    writes the release for the ledger (`ended` in the answer)."""
    v = Voucher
    same_day = col(v.day_on) == day_on
    ended = col(v.status).in_(ENDED)
    row = (
        await session.execute(
            update(v)
            .where(col(v.id) == voucher_id)
            .values(
                balance_fen=case(
                    (ended, col(v.balance_fen)), else_=col(v.balance_fen) + subsidy_fen
                ),
                released_fen=case(
                    (ended, func.coalesce(col(v.released_fen), 0) + subsidy_fen),
                    else_=col(v.released_fen),
                ),
                # a service package's home visit is given back with its subsidy
                visits_left=col(v.visits_left) + 1,
                status=case((col(v.status) == "exhausted", "active"), else_=col(v.status)),
                day_count=case(
                    (same_day, func.greatest(col(v.day_count) - 1, 0)), else_=col(v.day_count)
                ),
                day_subsidy_fen=case(
                    (same_day, func.greatest(col(v.day_subsidy_fen) - subsidy_fen, 0)),
                    else_=col(v.day_subsidy_fen),
                ),
                updated_at=now,
            )
            .returning(
                col(v.id),
                col(v.beneficiary_id),
                col(v.balance_fen),
                col(v.program_code),
                col(v.period),
                col(v.region_code),
                col(v.budget_region_code),
                col(v.funding_shares),
                ended,
            )
            .execution_options(synchronize_session=False)
        )
    ).one()
    return RestoredVoucher(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], bool(row[8])
    )


async def mark_voided(
    session: AsyncSession, redemption_id: uuid.UUID, *, now: datetime, by: str, reason: str
) -> None:
    await session.execute(
        update(Redemption)
        .where(col(Redemption.id) == redemption_id)
        .values(status="voided", voided_at=now, voided_by=by, void_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def lock_many(session: AsyncSession, ids: list[uuid.UUID]) -> list[ClaimState]:
    rows = await session.execute(
        select(
            col(Redemption.id),
            col(Redemption.status),
            col(Redemption.claimed_at),
            col(Redemption.claim_id),
        )
        .where(col(Redemption.id) == any_(_ids(ids)))
        .order_by(col(Redemption.id))
        .with_for_update()
    )
    return [ClaimState(*r) for r in rows]


async def mark_claimed(
    session: AsyncSession, ids: list[uuid.UUID], claim_id: str, now: datetime
) -> None:
    await session.execute(
        update(Redemption)
        .where(col(Redemption.id) == any_(_ids(ids)), col(Redemption.claimed_at).is_(None))
        .values(claimed_at=now, claim_id=claim_id)
        .execution_options(synchronize_session=False)
    )
