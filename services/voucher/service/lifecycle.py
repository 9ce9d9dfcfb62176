"""A person's status changes (the lifecycle, docs/lifecycle.md): one way to change a status.

`record` checks the change with the pure rule (service/lifecycle_rules.py `plan`), then in the
caller's one transaction, with the person's row locked: sets the status, the region or the
hospital window; ends the vouchers a death, a move or an exit ends (their unused balance goes
back to the budget through the ledger: `voucher.expired` events in the same transaction);
withdraws a dead person's proxies; and appends the change to the timeline with who, when,
why, the evidence and the money released.

Why a death stops every redemption at once: the vouchers are revoked by an UPDATE in the
same transaction as the status, and the redemption statement locks the voucher row it pays
from; a redemption that locked it first commits first (it happened before the death was
recorded), one that comes later waits for this transaction and then finds no live voucher.
A hospital stay works the same way through the vouchers' `paused_from/paused_until`.

A death recorded with a past date recovers the redemptions made after it (repository/
lifecycle.py `redemptions_after_death`: completed, on a day after the date of death) in the
same transaction: `recovery.start_recovery(..., at_fault=False)`, the subsidy back to the
budget (the person is dead), no alert and no credit event; the ledger posts each
`redemption.recovered` from the outbox. Exactly once: a recovery is one per redemption
(`recovery.redemption_id` unique), a death is final (recording it again is refused), a
retry with the same `Idempotency-Key` answers the first change and a status file imported
again finds the change already recorded. The answer of the change names the redemptions and
their recoveries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.ids import new_uuid
from services.voucher.models import Beneficiary, BeneficiaryStatusChange, Recovery
from services.voucher.repository import beneficiaries as people_repo
from services.voucher.repository import lifecycle as repo
from services.voucher.repository import recovery as recovery_repo
from services.voucher.schemas.beneficiaries import (
    StatusChangeCreate,
    StatusChangeRead,
    StatusChangeResult,
)
from services.voucher.service import lifecycle_rules as rules
from services.voucher.service import recovery as recoveries
from services.voucher.service.identity import check_region

# The reason a recovery after a death carries (shown with the provider's recoveries).
AFTER_DEATH_REASON = "去世（{died_on}）后发生的核销"


@dataclass(frozen=True)
class Recorded:
    change: BeneficiaryStatusChange
    person: Beneficiary
    recoveries: list[Recovery]


def present_change(change: BeneficiaryStatusChange) -> StatusChangeRead:
    return StatusChangeRead.model_validate(
        {**change.model_dump(), "id": str(change.id), "beneficiary_id": str(change.beneficiary_id)}
    )


def present_result(done: Recorded, today: date) -> StatusChangeResult:
    person = done.person
    return StatusChangeResult(
        **present_change(done.change).model_dump(),
        current_status=rules.current_state(
            person.status, person.paused_from, person.paused_until, today
        ),
        region_code=person.region_code,
        recovery_redemption_ids=[str(r.redemption_id) for r in done.recoveries],
        recoveries=[recoveries.recovery_read(r) for r in done.recoveries],
    )


async def record(
    session: AsyncSession,
    person: Beneficiary,
    data: StatusChangeCreate,
    *,
    who: str,
    today: date,
    source: str = "officer",
) -> Recorded:
    """Record one change of `person` (their row locked by the caller). See the module."""
    to_region = check_region(data.to_region_code) if data.to_region_code is not None else None
    effect = rules.plan(
        stored_status=person.status,
        region_code=person.region_code,
        paused_from=person.paused_from,
        paused_until=person.paused_until,
        status=data.status,
        effective_on=data.effective_on,
        until=data.until,
        to_region_code=to_region,
        today=today,
    )
    from_status = rules.current_state(person.status, person.paused_from, person.paused_until, today)
    if data.status == "deceased":
        await repo.lock_redemptions_after(session, person.id, data.effective_on)
    from_region = person.region_code
    if effect.status != person.status:
        await repo.set_status(session, person.id, effect.status, data.reason)
    if effect.set_pause:
        await repo.set_pause(session, person.id, *effect.pause)
    ended = repo.Ended(0, 0)
    if effect.end_vouchers is not None:
        ended = await repo.end_vouchers(
            session, person.id, status=effect.end_vouchers, region_code=effect.end_region
        )
    if effect.region_code is not None:
        await repo.set_region(session, person.id, effect.region_code)
    if effect.end_proxies:
        await repo.end_proxies(session, person.id)
    if effect.unfreeze:
        await people_repo.unfreeze_vouchers(session, person.id)
    change = await repo.insert_change(
        session,
        repo.NewStatusChange(
            id=new_uuid(),
            beneficiary_id=person.id,
            status=data.status,
            effective_on=data.effective_on,
            until=data.until,
            reason=data.reason,
            evidence_ref=data.evidence_ref,
            from_status=from_status,
            from_region_code=from_region,
            to_region_code=to_region,
            vouchers_ended=ended.vouchers,
            released_fen=ended.released_fen,
            source=source,
            created_by=who,
        ),
    )
    recovered: list[Recovery] = []
    if data.status == "deceased":
        after_death = await repo.redemptions_after_death(session, person.id)
        recovered = await recoveries.start_recovery(
            session,
            [r.redemption_id for r in after_death],
            AFTER_DEATH_REASON.format(died_on=data.effective_on.isoformat()),
            at_fault=False,
            actor=who,
        )
    after = await people_repo.get(session, person.id)
    assert after is not None  # locked by the caller
    return Recorded(change, after, recovered)


async def timeline(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[StatusChangeRead]:
    return [present_change(c) for c in await repo.timeline(session, beneficiary_id)]


async def recorded(session: AsyncSession, change_id: uuid.UUID) -> Recorded | None:
    """An earlier change (an `Idempotency-Key` replay), with the person as they are now."""
    change = await repo.get_change(session, change_id)
    if change is None:
        return None
    person = await people_repo.get(session, change.beneficiary_id)
    assert person is not None
    recovered: list[Recovery] = []
    if change.status == "deceased":
        after_death = await repo.redemptions_after_death(session, person.id)
        recovered = await recovery_repo.of_redemptions(
            session, [r.redemption_id for r in after_death]
        )
    return Recorded(change, person, recovered)
