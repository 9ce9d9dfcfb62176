"""Voids and claims of redemptions.

A void gives the subsidy back on the voucher, writes `redemption.voided` for the ledger and
records the refund of any co-payment captured, in one transaction (the refund is sent to
Stripe after it commits: service/copay_refund.py). A claim marks redemptions as claimed for
settlement, all or nothing. The day rule is in service/redemption.py (`may_void`); the
database refuses any other change to a redemption (trigger redemption_guard).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.errors import NotFound
from services.voucher.errors import (
    RedemptionAlreadyClaimed,
    RedemptionDisputed,
    RedemptionRecovered,
    RedemptionVoided,
)
from services.voucher.repository import outbox as outbox_repo
from services.voucher.repository import recovery as recovery_repo
from services.voucher.repository import reviews as reviews_repo
from services.voucher.repository import void_claim as repo
from services.voucher.schemas.redemptions import ClaimRead, VoidRead
from services.voucher.service import copay_refund
from services.voucher.service.redemption import may_void


def _void_read(
    redemption_id: uuid.UUID,
    voucher_id: uuid.UUID,
    balance_fen: int,
    voided_at: datetime,
    already: bool,
) -> VoidRead:
    return VoidRead(
        id=str(redemption_id),
        status="voided",
        voucher_id=str(voucher_id),
        balance_fen=balance_fen,
        voided_at=voided_at,
        already_voided=already,
    )


async def void(
    db: Database,
    redemption_id: uuid.UUID,
    *,
    provider_id: str | None,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> tuple[VoidRead, bool]:
    """Void a redemption the same day (Asia/Shanghai), before it is claimed: the subsidy goes
    back on the voucher, `redemption.voided` is written for the ledger and the refund of
    any co-payment captured is recorded (service/copay_refund.py). Voiding a voided
    redemption answers the same again and changes nothing. `provider_id` None = a service.
    Its own transaction, committed when this returns; the flag says whether a refund may be
    waiting (one was recorded now, or the redemption was voided before), which the caller
    then sends."""
    now = now or datetime.now(UTC)
    async with db.unit_of_work() as session:
        r = await repo.lock_redemption(session, redemption_id)
        if r is None or (provider_id is not None and r.provider_id != provider_id):
            # Another provider's redemption is not even confirmed to exist.
            raise NotFound("No such redemption.", field="redemption_id")
        problem = may_void(r.day_on, r.status, r.claimed_at is not None, now)
        if problem is not None:
            raise problem
        if r.status == "voided" and r.voided_at is not None:
            balance = await repo.voucher_balance(session, r.voucher_id)
            return _void_read(r.id, r.voucher_id, balance, r.voided_at, True), True
        voucher = await repo.restore_balance(
            session,
            voucher_id=r.voucher_id,
            subsidy_fen=r.subsidy_fen,
            day_on=r.day_on,
            now=now,
        )
        await repo.mark_voided(session, r.id, now=now, by=actor, reason=reason)
        # Its co-payment's refund is promised in this same transaction (sent after commit).
        refund = await copay_refund.reserve_for_void(session, r.id)
        # What the ledger needs of the voucher, for the void and for a release after it.
        voucher_keys = {
            "program_code": voucher.program_code,
            "region_code": voucher.region_code,
            "budget_region_code": voucher.budget_region_code,
            "period": voucher.period,
            "funding_shares": voucher.funding_shares,
            "voucher_id": str(r.voucher_id),
            "beneficiary_id": str(r.beneficiary_id),
        }
        await outbox_repo.enqueue(
            session,
            "redemption.voided",
            {
                **voucher_keys,
                "redemption_id": str(r.id),
                "provider_id": r.provider_id,
                "subsidy_fen": r.subsidy_fen,
                "reason": reason,
                "voided_by": actor,
            },
            occurred_at=now,
        )
        if voucher.ended:
            # The same release a death or a lapse writes (repository/issuance.py
            # `release_events`): the ledger moves the subsidy from vouchers outstanding back
            # to the budget, after the void put it there.
            await outbox_repo.enqueue(
                session,
                "voucher.expired",
                {**voucher_keys, "released_fen": r.subsidy_fen},
                occurred_at=now,
            )
        return _void_read(r.id, r.voucher_id, voucher.balance_fen, now, False), refund is not None


async def claim(
    session: AsyncSession, ids: list[uuid.UUID], claim_id: str, now: datetime | None = None
) -> ClaimRead:
    """Mark redemptions as claimed for settlement (all or nothing). Refuses voided ones, ones
    claimed by another claim, ones recovered before any claim (REDEMPTION_RECOVERED) and ones
    whose dispute no officer has answered yet (REDEMPTION_DISPUTED); claiming again under the
    same claim id changes nothing."""
    now = now or datetime.now(UTC)
    unique = sorted(set(ids))
    rows = await repo.lock_many(session, unique)
    found = {r.id for r in rows}
    missing = [str(i) for i in unique if i not in found]
    if missing:
        raise NotFound(
            "Some redemptions do not exist.", field="redemption_ids", details={"missing": missing}
        )
    voided = [str(r.id) for r in rows if r.status == "voided"]
    if voided:
        raise RedemptionVoided(field="redemption_ids", details={"voided": voided})
    other = [str(r.id) for r in rows if r.claimed_at is not None and r.claim_id != claim_id]
    if other:
        raise RedemptionAlreadyClaimed(field="redemption_ids", details={"claimed": other})
    unclaimed = [r.id for r in rows if r.claimed_at is None]
    recovered = [
        str(x.redemption_id)
        for x in await recovery_repo.of_redemptions(session, unclaimed)
        if x.mode == "payable"
    ]
    if recovered:  # taken back before any claim (service/recovery.py): never payable again
        raise RedemptionRecovered(field="redemption_ids", details={"recovered": recovered})
    # Disputed and not answered yet: paid once an officer answers (a dispute opens under the
    # redemption's lock, held here, so one racing this claim is decided either way).
    disputed = sorted(str(i) for i in await reviews_repo.unanswered_of(session, unclaimed))
    if disputed:
        raise RedemptionDisputed(field="redemption_ids", details={"disputed": disputed})
    await repo.mark_claimed(session, unique, claim_id, now)
    return ClaimRead(claim_id=claim_id, claimed=[str(i) for i in unique])
