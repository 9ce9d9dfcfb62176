"""Budget: what is available per funding source, and the commitments made against it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ledger.models import Account, BudgetExecution, Commitment, account_balance
from services.ledger.service.chart import BUDGET_AVAILABLE, BUDGET_EXPENDED


@dataclass(frozen=True, slots=True)
class Available:
    """Budget available to a program at a region: fen per funding source there."""

    region_code: str | None
    by_source: dict[str, int]


async def budget_by_source(
    session: AsyncSession, program_code: str, region_codes: Sequence[str]
) -> Available:
    """The nearest of `region_codes` (most specific first) holding budget accounts for the
    program, and the available fen per funding source there (credit balance of 3001)."""
    stmt = select(col(Account.region_code), col(Account.funding_source), -account_balance()).where(
        col(Account.code) == BUDGET_AVAILABLE,
        col(Account.program_code) == program_code,
        col(Account.region_code).in_(list(region_codes)),
    )
    rows = (await session.execute(stmt)).all()
    for region in region_codes:
        found = {source or "": fen for r, source, fen in rows if r == region}
        if found:
            return Available(region, found)
    return Available(None, {})


@dataclass(frozen=True, slots=True)
class Execution:
    """How a program's budget at a region has been used, each a positive sum of fen."""

    appropriated_fen: int
    committed_fen: int
    spent_fen: int
    released_fen: int


async def budget_execution(session: AsyncSession, program_code: str, region_code: str) -> Execution:
    """Appropriated (credits to budget available by appropriations, net of their
    reversals), committed (debits to it
    by commitments), released (credits to it by expiries) and spent (the credit balance of
    budget expended: redemptions net of voids, and cash benefits) for one budget region.
    The sums by entry kind are `budget_execution`'s (kept at each such entry's COMMIT)."""
    kind_sums = (
        select(col(BudgetExecution.kind), func.sum(col(BudgetExecution.amount_fen)))
        .join(Account, col(Account.id) == col(BudgetExecution.account_id))
        .where(
            col(Account.code) == BUDGET_AVAILABLE,
            col(Account.program_code) == program_code,
            col(Account.region_code) == region_code,
        )
        .group_by(col(BudgetExecution.kind))
    )
    by_kind = {kind: int(total) for kind, total in (await session.execute(kind_sums)).all()}
    expended = select(func.coalesce(func.sum(-account_balance()), 0)).where(
        col(Account.code) == BUDGET_EXPENDED,
        col(Account.program_code) == program_code,
        col(Account.region_code) == region_code,
    )
    spent = int((await session.execute(expended)).scalar_one())
    return Execution(
        appropriated_fen=-by_kind.get("appropriation", 0) - by_kind.get("reversal", 0),
        committed_fen=by_kind.get("commitment", 0),
        spent_fen=spent,
        released_fen=-by_kind.get("expiry", 0),
    )


@dataclass(frozen=True, slots=True)
class SourceExecution:
    """A program's budget in a region subtree from one funding source, positive fen."""

    program_code: str
    funding_source: str
    appropriated_fen: int
    committed_fen: int
    spent_fen: int
    released_fen: int
    available_fen: int


async def execution_by_source(session: AsyncSession, region_like: str) -> list[SourceExecution]:
    """Budget execution of every program and funding source over the budget regions matching
    `region_like` (a subtree): appropriated, committed and released as in `budget_execution`
    (postings to budget available by entry kind, as summed in `budget_execution`), spent
    (credit balance of budget expended) and available (credit balance of budget available):
    rows per budget account, never the postings (docs/performance.md)."""
    program, source = col(Account.program_code), col(Account.funding_source)
    kind_sums = (
        select(
            program, source, col(BudgetExecution.kind), func.sum(col(BudgetExecution.amount_fen))
        )
        .join(Account, col(Account.id) == col(BudgetExecution.account_id))
        .where(
            col(Account.code) == BUDGET_AVAILABLE,
            col(Account.region_code).like(region_like),
        )
        .group_by(program, source, col(BudgetExecution.kind))
    )
    balances = (
        select(program, source, col(Account.code), func.sum(-account_balance()))
        .where(
            col(Account.code).in_((BUDGET_AVAILABLE, BUDGET_EXPENDED)),
            col(Account.region_code).like(region_like),
        )
        .group_by(program, source, col(Account.code))
    )
    lines: dict[tuple[str, str], dict[str, int]] = {}
    for p, s, kind, total in (await session.execute(kind_sums)).all():
        lines.setdefault((p or "", s or ""), {})[kind] = int(total or 0)
    for p, s, code, total in (await session.execute(balances)).all():
        lines.setdefault((p or "", s or ""), {})[code] = int(total or 0)
    return [
        SourceExecution(
            program_code=p,
            funding_source=s,
            appropriated_fen=-v.get("appropriation", 0) - v.get("reversal", 0),
            committed_fen=v.get("commitment", 0),
            spent_fen=v.get(BUDGET_EXPENDED, 0),
            released_fen=-v.get("expiry", 0),
            available_fen=v.get(BUDGET_AVAILABLE, 0),
        )
        for (p, s), v in sorted(lines.items())
    ]


async def insert_commitment(session: AsyncSession, commitment: Commitment) -> None:
    await session.execute(
        insert(Commitment).values(
            id=commitment.id,
            entry_id=commitment.entry_id,
            idempotency_key=commitment.idempotency_key,
            purpose=commitment.purpose,
            program_code=commitment.program_code,
            region_code=commitment.region_code,
            budget_region_code=commitment.budget_region_code,
            period=commitment.period,
            amount_fen=commitment.amount_fen,
            count=commitment.count,
        )
    )
