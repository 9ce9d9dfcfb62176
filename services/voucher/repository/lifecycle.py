"""A person's lifecycle: the status timeline (`BeneficiaryStatusChange`), hospital stays, the
vouchers a death, a move or an exit ends, and the redemptions made after a death.

For the anomaly rules and recoveries (through service/lifecycle_facts.py): `death_dates` are
the dates of death as recorded, `stay_changes` what the hospital stays are made of, and
`redemptions_after_death` exactly the redemptions a past-dated death recovers (completed,
not voided, made on a day after the date of death). Nothing here posts to the ledger except through the outbox
(`release_events`, the same `voucher.expired` event a lapsed voucher sends).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import (
    Beneficiary,
    BeneficiaryStatusChange,
    ProxyAuthorisation,
    Redemption,
    Voucher,
)
from services.voucher.repository.issuance import release_events

# Vouchers a death, a move or an exit can still end (expired and revoked ones are over).
_LIVE = ("active", "exhausted", "suspended")


@dataclass(frozen=True, slots=True)
class NewStatusChange:
    id: uuid.UUID
    beneficiary_id: uuid.UUID
    status: str
    effective_on: date
    until: date | None
    reason: str
    evidence_ref: str | None
    from_status: str
    from_region_code: str
    to_region_code: str | None
    vouchers_ended: int
    released_fen: int
    source: str
    created_by: str


@dataclass(frozen=True, slots=True)
class Ended:
    """What ending a person's vouchers did: how many, and the balance released."""

    vouchers: int
    released_fen: int


@dataclass(frozen=True, slots=True)
class AfterDeath:
    """A redemption made on a day after the person's recorded date of death."""

    redemption_id: uuid.UUID
    voucher_id: uuid.UUID
    beneficiary_id: uuid.UUID
    provider_id: str
    day_on: date
    subsidy_fen: int
    created_at: datetime
    deceased_on: date


@dataclass(frozen=True, slots=True)
class StayChange:
    """A change of the timeline that makes or ends a hospital stay."""

    status: str
    effective_on: date
    until: date | None


async def insert_change(session: AsyncSession, change: NewStatusChange) -> BeneficiaryStatusChange:
    result = await session.execute(
        insert(BeneficiaryStatusChange).values(**asdict(change)).returning(BeneficiaryStatusChange)
    )
    return result.scalar_one()


async def timeline(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[BeneficiaryStatusChange]:
    """Every change of the person, in the order they were recorded."""
    result = await session.scalars(
        select(BeneficiaryStatusChange)
        .where(col(BeneficiaryStatusChange.beneficiary_id) == beneficiary_id)
        .order_by(col(BeneficiaryStatusChange.created_at), col(BeneficiaryStatusChange.id))
    )
    return list(result)


async def get_change(session: AsyncSession, change_id: uuid.UUID) -> BeneficiaryStatusChange | None:
    return await session.get(BeneficiaryStatusChange, change_id)


async def same_change(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    status: str,
    effective_on: date,
    until: date | None,
) -> bool:
    """Whether this very change (status, effective day, end of stay) is already recorded:
    a status file imported again changes nothing."""
    t = BeneficiaryStatusChange
    found = await session.scalar(
        select(col(t.id))
        .where(
            col(t.beneficiary_id) == beneficiary_id,
            col(t.status) == status,
            col(t.effective_on) == effective_on,
            col(t.until).is_(None) if until is None else col(t.until) == until,
        )
        .limit(1)
    )
    return found is not None


async def set_status(
    session: AsyncSession, beneficiary_id: uuid.UUID, status: str, reason: str
) -> None:
    """The person's status (leaving 'active' freezes the active vouchers in the same
    transaction: trigger beneficiary_suspends_vouchers)."""
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(status=status, status_reason=reason, status_changed_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def set_region(session: AsyncSession, beneficiary_id: uuid.UUID, region_code: str) -> None:
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(region_code=region_code, status_changed_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def set_pause(
    session: AsyncSession, beneficiary_id: uuid.UUID, paused_from: date | None, until: date | None
) -> None:
    """The hospital stay on the person and on every voucher of theirs, in one transaction:
    the voucher rows are what the redemption statement locks and reads, so a redemption
    racing this change waits for it and then sees the window."""
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(paused_from=paused_from, paused_until=until, status_changed_at=func.now())
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Voucher)
        .where(col(Voucher.beneficiary_id) == beneficiary_id)
        .values(paused_from=paused_from, paused_until=until, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def end_vouchers(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    *,
    status: str,
    region_code: str | None = None,
) -> Ended:
    """End the person's live vouchers (of `region_code` only, when given) in one statement:
    `status` ('revoked' for a death or an exit, 'expired' for a move), the balance moved to
    `released_fen` (balance 0) and a `voucher.expired` event per voucher that released
    something, so the ledger hands the unused balance back to the budget exactly as for a
    lapsed voucher. The voucher rows are locked (a redemption in flight finishes first)."""
    v = Voucher
    conditions = [col(v.beneficiary_id) == beneficiary_id, col(v.status).in_(_LIVE)]
    if region_code is not None:
        conditions.append(col(v.region_code) == region_code)
    ended = (
        update(v)
        .where(*conditions)
        .values(
            status=status,
            released_fen=col(v.balance_fen),
            balance_fen=0,
            updated_at=func.now(),
        )
        .returning(
            col(v.id),
            col(v.beneficiary_id),
            col(v.program_code),
            col(v.region_code),
            col(v.budget_region_code),
            col(v.period),
            col(v.funding_shares),
            col(v.released_fen),
        )
        .cte("upd")
    )
    events = release_events(ended)
    row = (
        await session.execute(
            select(
                select(func.count()).select_from(ended).scalar_subquery(),
                select(func.coalesce(func.sum(ended.c.released_fen), 0)).scalar_subquery(),
                select(func.count()).select_from(events).scalar_subquery(),
            )
        )
    ).one()
    return Ended(int(row[0]), int(row[1]))


async def end_proxies(session: AsyncSession, beneficiary_id: uuid.UUID) -> int:
    """Withdraw every live proxy authorisation of the person (a death ends them)."""
    result = await session.execute(
        update(ProxyAuthorisation)
        .where(
            col(ProxyAuthorisation.beneficiary_id) == beneficiary_id,
            col(ProxyAuthorisation.status) == "active",
        )
        .values(status="revoked", revoked_at=func.now())
        .returning(col(ProxyAuthorisation.id))
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def death_dates(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, date]:
    """Of these people, those recorded deceased, with their recorded date of death (the
    `effective_on` of the death on the timeline; a death is final: one at most)."""
    if not beneficiary_ids:
        return {}
    t = BeneficiaryStatusChange
    rows = await session.execute(
        select(col(t.beneficiary_id), col(t.effective_on))
        .where(col(t.beneficiary_id).in_(list(beneficiary_ids)), col(t.status) == "deceased")
        .order_by(col(t.created_at))
    )
    return {row.beneficiary_id: row.effective_on for row in rows}


async def deceased_on(session: AsyncSession, beneficiary_id: uuid.UUID) -> date | None:
    """The person's recorded date of death, or None."""
    return (await death_dates(session, [beneficiary_id])).get(beneficiary_id)


async def stay_changes(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[StayChange]]:
    """The changes of these people that make or end hospital stays (`hospitalised`,
    `active`, `deceased`), each person's in the order they were recorded: the stays
    themselves are `lifecycle_rules.stays` of them."""
    if not beneficiary_ids:
        return {}
    t = BeneficiaryStatusChange
    rows = await session.execute(
        select(col(t.beneficiary_id), col(t.status), col(t.effective_on), col(t.until))
        .where(
            col(t.beneficiary_id).in_(list(beneficiary_ids)),
            col(t.status).in_(("hospitalised", "active", "deceased")),
        )
        .order_by(col(t.created_at), col(t.id))
    )
    out: dict[uuid.UUID, list[StayChange]] = {}
    for person, status, on, until in rows:
        out.setdefault(person, []).append(StayChange(status, on, until))
    return out


async def redemptions_after_death(
    session: AsyncSession, beneficiary_id: uuid.UUID | None = None
) -> list[AfterDeath]:
    """The redemptions to recover because they were made after the person died: completed
    (not voided), on a day (Asia/Shanghai, `redemption.day_on`) after the recorded date of
    death. Of one person, or of everyone when `beneficiary_id` is None. A redemption on the
    day of death itself is not listed (the date carries no time of day)."""
    t = BeneficiaryStatusChange
    r = Redemption
    query = (
        select(
            col(r.id),
            col(r.voucher_id),
            col(r.beneficiary_id),
            col(r.provider_id),
            col(r.day_on),
            col(r.subsidy_fen),
            col(r.created_at),
            col(t.effective_on),
        )
        .join(t, (col(t.beneficiary_id) == col(r.beneficiary_id)) & (col(t.status) == "deceased"))
        .where(col(r.status) == "completed", col(r.day_on) > col(t.effective_on))
        .order_by(col(r.created_at), col(r.id))
    )
    if beneficiary_id is not None:
        query = query.where(col(r.beneficiary_id) == beneficiary_id)
    return [AfterDeath(*row) for row in await session.execute(query)]


async def lock_redemptions_after(
    session: AsyncSession, beneficiary_id: uuid.UUID, day: date
) -> None:
    """Lock (in id order) the person's completed redemptions dated after `day`: a death
    takes them before their vouchers, in the order a void, a claim and a recovery take a
    redemption and its voucher, so a death never deadlocks with a void of one of them."""
    r = Redemption
    await session.execute(
        select(col(r.id))
        .where(
            col(r.beneficiary_id) == beneficiary_id,
            col(r.status) == "completed",
            col(r.day_on) > day,
        )
        .order_by(col(r.id))
        .with_for_update()
    )


async def person_ids_by_hash(session: AsyncSession, hashes: list[bytes]) -> dict[bytes, uuid.UUID]:
    """People by the keyed hash of their national ID (a status file's rows)."""
    if not hashes:
        return {}
    rows = await session.execute(
        select(col(Beneficiary.national_id_hash), col(Beneficiary.id)).where(
            col(Beneficiary.national_id_hash).in_(hashes)
        )
    )
    return {bytes(h): i for h, i in rows}
