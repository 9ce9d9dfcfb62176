"""SQL of the ledger side of reconciliation (read-only; the caller holds one snapshot)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import BigInteger, Text
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting, account_balance
from services.ledger.service import chart
from services.ledger.settlement.models import Claim, ClaimLine, PaymentLine
from services.ledger.settlement.repository import (
    RECOVERY_KINDS,
    any_of,
    claim_regions_within,
    is_reversed,
    on_account,
    region_within,
)
from services.ledger.settlement.repository.copay import COPAY_KINDS

# Entry kinds that explain a movement of provider payable; any other is UNEXPLAINED_PAYABLE.
EXPLAINED_KINDS = (
    "redemption",
    "redemption_void",
    "settlement_payment",
    *COPAY_KINDS,
    *RECOVERY_KINDS,
)


@dataclass(frozen=True, slots=True)
class LedgerRedemption:
    redemption_id: str
    entry_id: uuid.UUID
    provider_id: str | None
    region_code: str | None
    amount_fen: int | None
    reversed: bool
    claim_id: str | None


@dataclass(frozen=True, slots=True)
class StrayPosting:
    """A provider-payable movement of an entry that is no redemption, void or payment."""

    entry_id: uuid.UUID
    kind: str
    provider_id: str | None
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Outstanding:
    program_code: str
    region_code: str
    balance_fen: int


@dataclass(frozen=True, slots=True)
class ClaimPayment:
    """A claim (approved, batched or paid) and the payments posted for it."""

    claim_id: str
    total_fen: int
    paid_fen: int
    status: str


@dataclass(frozen=True, slots=True)
class CopayNet:
    """What the ledger's co-payment clearing (1102) holds of one co-payment."""

    copayment_id: str
    net_fen: int


@dataclass(frozen=True, slots=True)
class CopaySplit:
    """What the clearing account received and refunded for one co-payment."""

    copayment_id: str
    received_fen: int
    refunded_fen: int


@dataclass(frozen=True, slots=True)
class LedgerSide:
    redemptions: list[LedgerRedemption]
    stray: list[StrayPosting]
    outstanding: list[Outstanding]
    payments: list[ClaimPayment]
    copays: list[CopayNet]


async def ledger_side(
    session: AsyncSession, period: str, prefix: str, ids: list[str], copay_ids: list[str]
) -> LedgerSide:
    """Redemption entries of the period and region (or naming one of `ids`), their reversal,
    their live claim; payable postings not explained by redemptions, voids or payments;
    vouchers-outstanding balances; claims with the payments posted for them; co-payment
    clearing per co-payment."""
    of_period = and_(col(Entry.period) == period, region_within(Entry.region_code, prefix))
    owed = (
        select(-func.sum(col(Posting.amount_fen)))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .where(col(Posting.entry_id) == col(Entry.id))
        .scalar_subquery()
    )
    holder = (
        select(cast(col(ClaimLine.claim_id), Text))
        .where(col(ClaimLine.redemption_id) == col(Entry.ref), col(ClaimLine.active))
        .scalar_subquery()
    )
    redemptions = select(
        col(Entry.ref),
        col(Entry.id),
        col(Entry.provider_id),
        col(Entry.region_code),
        owed,
        is_reversed(),
        holder,
    ).where(col(Entry.kind) == "redemption", or_(of_period, col(Entry.ref) == any_of(ids)))
    stray = (
        select(
            col(Entry.id),
            col(Entry.kind),
            col(Entry.provider_id),
            func.sum(col(Posting.amount_fen)),
        )
        .select_from(Posting)
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .join(Entry, col(Entry.id) == col(Posting.entry_id))
        .where(
            col(Posting.period) == period,
            region_within(Posting.region_code, prefix),
            col(Entry.kind).not_in(EXPLAINED_KINDS),
        )
        .group_by(col(Entry.id))
        .order_by(col(Entry.seq))
    )
    outstanding = (
        select(
            col(Account.program_code),
            col(Account.region_code),
            cast(-func.sum(account_balance()), BigInteger),
        )
        .where(
            col(Account.code) == chart.VOUCHERS_OUTSTANDING,
            region_within(Account.region_code, prefix),
        )
        .group_by(col(Account.program_code), col(Account.region_code))
    )
    paid = (
        select(func.sum(col(Posting.amount_fen)))
        .select_from(PaymentLine)
        .join(Posting, col(Posting.entry_id) == col(PaymentLine.entry_id))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .where(col(PaymentLine.claim_id) == col(Claim.id), col(PaymentLine.status) == "paid")
        .scalar_subquery()
    )
    payments = select(
        cast(col(Claim.id), Text),
        col(Claim.total_fen),
        func.coalesce(paid, 0),
        col(Claim.status),
    ).where(
        col(Claim.period) == period,
        col(Claim.status).in_(("paid", "approved", "batched")),
        claim_regions_within(prefix),
    )
    copays = (
        select(col(Entry.ref), func.sum(col(Posting.amount_fen)))
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.COPAY_CLEARING))
        .where(
            col(Entry.kind).in_(COPAY_KINDS),
            or_(of_period, col(Entry.ref) == any_of(copay_ids)),
        )
        .group_by(col(Entry.ref))
    )
    return LedgerSide(
        redemptions=[
            LedgerRedemption(
                str(ref),
                eid,
                provider,
                region,
                None if amount is None else int(amount),
                bool(rev),
                claim,
            )
            for ref, eid, provider, region, amount, rev, claim in await session.execute(redemptions)
        ],
        stray=[
            StrayPosting(eid, kind, provider, int(amount))
            for eid, kind, provider, amount in await session.execute(stray)
        ],
        outstanding=[
            Outstanding(str(program), str(region), int(balance))
            for program, region, balance in await session.execute(outstanding)
        ],
        payments=[
            ClaimPayment(cid, int(total), int(p), status)
            for cid, total, p, status in await session.execute(payments)
        ],
        copays=[CopayNet(str(ref), int(net)) for ref, net in await session.execute(copays)],
    )


async def copay_split(session: AsyncSession, copay_ids: list[str]) -> list[CopaySplit]:
    """Per co-payment: what the ledger's clearing account (1102) received and refunded."""
    amount = func.sum(col(Posting.amount_fen))
    stmt = (
        select(
            col(Entry.ref),
            func.coalesce(amount.filter(col(Entry.kind) == "copay_received"), 0),
            func.coalesce(-amount.filter(col(Entry.kind) == "copay_refunded"), 0),
        )
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, on_account(chart.COPAY_CLEARING))
        .where(col(Entry.kind).in_(COPAY_KINDS), col(Entry.ref) == any_of(copay_ids))
        .group_by(col(Entry.ref))
    )
    return [
        CopaySplit(str(ref), int(received), int(refunded))
        for ref, received, refunded in await session.execute(stmt)
    ]
