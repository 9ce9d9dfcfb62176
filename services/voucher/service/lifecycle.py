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

A death recorded with a past date hands the redemptions made after it to recovery:
`repository/lifecycle.py` `redemptions_after_death` lists them (the answer of the change
names them too); the recovery itself is issue 14's (money-integrity) work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.ids import new_uuid
from services.voucher.models import Beneficiary, BeneficiaryStatusChange
from services.voucher.repository import beneficiaries as people_repo
from services.voucher.repository import lifecycle as repo
from services.voucher.schemas.beneficiaries import (
    StatusChangeCreate,
    StatusChangeRead,
    StatusChangeResult,
)
from services.voucher.service import lifecycle_rules as rules
from services.voucher.service.identity import check_region


@dataclass(frozen=True)
class Recorded:
    change: BeneficiaryStatusChange
    person: Beneficiary
    recovery_redemption_ids: list[uuid.UUID]


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
        recovery_redemption_ids=[str(i) for i in done.recovery_redemption_ids],
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
    recovery: list[uuid.UUID] = []
    if data.status == "deceased":
        recovery = [r.redemption_id for r in await repo.redemptions_after_death(session, person.id)]
    after = await people_repo.get(session, person.id)
    assert after is not None  # locked by the caller
    return Recorded(change, after, recovery)


async def timeline(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[StatusChangeRead]:
    return [present_change(c) for c in await repo.timeline(session, beneficiary_id)]


async def recorded(session: AsyncSession, change_id: uuid.UUID) -> Recorded | None:
    """An earlier change (an `Idempotency-Key` replay), with the person as they are now."""
    change = await repo.get_change(session, change_id)
    if change is None:
        return None
    person = await people_repo.get(session, change.beneficiary_id)
    assert person is not None
    recovery: list[uuid.UUID] = []
    if change.status == "deceased":
        recovery = [r.redemption_id for r in await repo.redemptions_after_death(session, person.id)]
    return Recorded(change, person, recovery)
