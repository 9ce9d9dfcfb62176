"""SQL of the ledger side of reconciliation (read-only; the caller holds one snapshot)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
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


# The set-wise read hashes a period's redemptions, payable sums and claim lines (a million
# redemptions: about 100 MB); with the server's default work_mem the hashes spill to disk in
# batches. Transaction-local (set_config(..., true)), one reconciliation at a time.
WORK_MEM = "256MB"


class LedgerRedemption(NamedTuple):
    """A redemption entry as reconciliation compares it (a tuple: a period holds a million)."""

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
    clearing per co-payment.

    The period's redemptions are read set-wise (`redemptions_of_period`: one join over the
    period, not three lookups per redemption); the few of `ids` posted in another period
    (or region) are then looked up one by one (`redemptions_named`: a ref not among the
    period's is an entry not among them)."""
    of_period = and_(col(Entry.period) == period, region_within(Entry.region_code, prefix))
    await session.execute(select(func.set_config("work_mem", WORK_MEM, True)))
    found = await redemptions_of_period(session, period, prefix)
    seen = {r.redemption_id for r in found}
    elsewhere = [i for i in ids if i not in seen]
    if elsewhere:
        found += await redemptions_named(session, elsewhere)
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
            # the same period, said of the entry too (a posting carries its entry's): the
            # period's entries by ix_entry_period_kind, not a scan of the whole journal
            col(Entry.period) == period,
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
        redemptions=found,
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


async def redemptions_of_period(
    session: AsyncSession, period: str, prefix: str
) -> list[LedgerRedemption]:
    """`period_redemptions` run: the period's redemption entries with their payable, reversal
    and claim."""
    return await _redemptions(session, period_redemptions(period, prefix))


def period_redemptions(period: str, prefix: str) -> Any:
    """SELECT the redemption entries of the period and region with what each owes its provider
    (its provider-payable postings, negated), whether it was reversed, and the claim holding
    it: one statement joining the period's entries to the period's payable postings summed
    per entry, to the set of reversed entries and to the live claim lines (hash joins, not a
    probe per redemption). Postings carry their entry's period, so the sum is the entry's."""
    payable = select(col(Account.id)).where(col(Account.code) == chart.PROVIDER_PAYABLE)
    owed = (
        select(
            col(Posting.entry_id).label("entry_id"),
            cast(-func.sum(col(Posting.amount_fen)), BigInteger).label("owed"),
        )
        .where(col(Posting.period) == period, col(Posting.account_id).in_(payable))
        .group_by(col(Posting.entry_id))
        .subquery("owed")
    )
    reversal = aliased(Entry)
    reversed_ = (
        select(col(reversal.reverses_entry_id).label("entry_id"))
        .where(col(reversal.reverses_entry_id).is_not(None))
        .subquery("reversed")
    )
    held = (
        select(
            col(ClaimLine.redemption_id).label("redemption_id"),
            cast(col(ClaimLine.claim_id), Text).label("claim_id"),
        )
        .where(col(ClaimLine.active))
        .subquery("held")
    )
    return (
        select(
            col(Entry.ref),
            col(Entry.id),
            col(Entry.provider_id),
            col(Entry.region_code),
            owed.c.owed,
            reversed_.c.entry_id.is_not(None),
            held.c.claim_id,
        )
        .outerjoin(owed, owed.c.entry_id == col(Entry.id))
        .outerjoin(reversed_, reversed_.c.entry_id == col(Entry.id))
        .outerjoin(held, held.c.redemption_id == col(Entry.ref))
        .where(
            col(Entry.kind) == "redemption",
            col(Entry.period) == period,
            region_within(Entry.region_code, prefix),
        )
    )


async def _redemptions(session: AsyncSession, stmt: Any) -> list[LedgerRedemption]:
    """Rows straight into tuples, through the session's connection (Core, not the ORM's
    row loading: a million rows)."""
    result = await (await session.connection()).execute(stmt)
    return [LedgerRedemption._make(row) for row in result.all()]


async def redemptions_named(session: AsyncSession, ids: list[str]) -> list[LedgerRedemption]:
    """`redemptions_named_stmt` run."""
    return await _redemptions(session, redemptions_named_stmt(ids))


def redemptions_named_stmt(ids: list[str]) -> Any:
    """The redemption entries naming one of `ids`, with the same
    columns as `redemptions_of_period`, looked up entry by entry (ix_entry_kind_ref, then
    an index probe each for the payable, the reversal and the claim): for a handful of
    redemptions, or to check the set-wise statement against."""
    owed = (
        select(cast(-func.sum(col(Posting.amount_fen)), BigInteger))
        .join(Account, on_account(chart.PROVIDER_PAYABLE))
        .where(col(Posting.entry_id) == col(Entry.id))
        .scalar_subquery()
    )
    holder = (
        select(cast(col(ClaimLine.claim_id), Text))
        .where(col(ClaimLine.redemption_id) == col(Entry.ref), col(ClaimLine.active))
        .scalar_subquery()
    )
    return select(
        col(Entry.ref),
        col(Entry.id),
        col(Entry.provider_id),
        col(Entry.region_code),
        owed,
        is_reversed(),
        holder,
    ).where(col(Entry.kind) == "redemption", col(Entry.ref) == any_of(ids))


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
