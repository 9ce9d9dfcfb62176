"""SQL of cash benefits in payment batches: which nursing-subsidy cash benefit entries are
payable (2202 credited, not reversed, in no live payment line)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import cast, exists, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text, Uuid
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.service import chart, plans
from services.ledger.settlement.models import PaymentLine
from services.ledger.settlement.repository import any_of, is_reversed, on_account


@dataclass(frozen=True, slots=True)
class PayableBenefit:
    """A cash benefit entry and what it owes the beneficiary."""

    entry_id: uuid.UUID
    benefit_id: str
    beneficiary_id: str
    region_code: str | None
    program_code: str | None
    period: str
    amount_fen: int


async def lock_cash_benefits(session: AsyncSession) -> None:
    """Batching cash benefits is one writer at a time (a benefit goes in one live line)."""
    key = func.hashtext(literal("settlement:cash_benefit", Text))
    await session.execute(select(func.pg_advisory_xact_lock(key)))


# The month a cash benefit is for: its entry's `details.benefit_period` (ledger_1405), or the
# month it was posted in for an entry from before that key (the same expression as the index
# ix_entry_cash_benefit_month, so the payable list of a month reads that month's only).
benefit_month = func.coalesce(
    col(Entry.details).op("->>")(literal_column(f"'{plans.BENEFIT_MONTH}'")),
    cast(col(Entry.period), Text),
)


async def payable_cash_benefits(
    session: AsyncSession, period: str, entry_ids: list[uuid.UUID] | None = None
) -> list[PayableBenefit]:
    """Cash benefit entries for the month `period` (2202 beneficiary payable credited) not
    reversed and in no pending or paid payment line, with the amount owed to the beneficiary.
    A benefit belongs to the month it is for, not the month it was issued in: next month's,
    issued ahead, is not paid with this month's."""
    owed = -func.sum(col(Posting.amount_fen))
    stmt = (
        select(
            col(Entry.id),
            col(Entry.ref),
            col(Entry.beneficiary_id),
            col(Entry.region_code),
            col(Entry.program_code),
            benefit_month,
            owed,
        )
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.BENEFICIARY_PAYABLE))
        .where(
            col(Entry.kind) == "cash_benefit",
            benefit_month == period,
            ~is_reversed(),
            ~exists().where(
                col(PaymentLine.cash_entry_id) == col(Entry.id),
                col(PaymentLine.status) != "failed",
            ),
        )
        .group_by(col(Entry.id), benefit_month)
        .having(owed > 0)
        .order_by(col(Entry.seq))
    )
    if entry_ids is not None:
        stmt = stmt.where(col(Entry.id) == any_of(entry_ids, Uuid))
    return [
        PayableBenefit(eid, str(ref), str(person), region, program, str(p).strip(), int(amount))
        for eid, ref, person, region, program, p, amount in await session.execute(stmt)
    ]
