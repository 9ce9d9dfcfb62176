"""Recovery (clawback) of wrongly paid redemptions (docs/anomalies.md, docs/ledger.md).

`start_recovery` takes back a redemption's subsidy, once per redemption, in the caller's
transaction: the redemption row is locked first (as a void and a claim lock it, so a
recovery racing either is decided once), then its voucher. It writes the `recovery` row and
the outbox event `redemption.recovered` that the relay posts to the ledger exactly once:

- mode `payable`: the redemption was not claimed yet; it can no longer be claimed (trigger
  `redemption_recovered_guard`) and the ledger takes it off the provider's payable;
- mode `receivable`: it was claimed (maybe paid); the ledger debits the provider's payable
  and the amount is netted from that provider's next claims;
- destination `voucher`: a living person not at fault whose voucher is still open gets the
  subsidy back on it; otherwise (deceased, at fault, voucher lapsed) `budget`: the
  subsidy returns to the budget.

Called by an officer's confirmation of an alert (service/alerts.py) and directly, without an
alert or a credit event, for redemptions after a recorded death (service/lifecycle.py
`record`, in the death's own transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound
from services.common.ids import new_uuid
from services.voucher.errors import RedemptionNotRecoverable
from services.voucher.models import Recovery
from services.voucher.repository import outbox as outbox_repo
from services.voucher.repository import recovery as repo
from services.voucher.repository import void_claim as redemption_repo
from services.voucher.schemas.alerts import RecoveryRead
from services.voucher.service import lifecycle_facts

OPEN_VOUCHER = ("active", "exhausted")


def recovery_read(r: Recovery) -> RecoveryRead:
    return RecoveryRead(
        id=str(r.id),
        redemption_id=str(r.redemption_id),
        alert_id=str(r.alert_id) if r.alert_id else None,
        provider_id=r.provider_id,
        subsidy_fen=r.subsidy_fen,
        mode=r.mode,
        destination=r.destination,
        at_fault=r.at_fault,
        reason=r.reason,
        started_by=r.started_by,
        event_id=str(r.event_id),
        created_at=r.created_at,
    )


def destination_of(
    *, deceased: bool, at_fault: bool, voucher_status: str, valid_until: datetime, now: datetime
) -> str:
    """Where a recovered subsidy goes: back on the voucher for a living person not at fault
    while the voucher is still open (active or exhausted, inside its window), else to the
    budget."""
    if deceased or at_fault:
        return "budget"
    if voucher_status in OPEN_VOUCHER and valid_until > now:
        return "voucher"
    return "budget"


async def start_recovery(
    session: AsyncSession,
    redemption_ids: Sequence[uuid.UUID],
    reason: str,
    at_fault: bool = False,
    *,
    alert_id: uuid.UUID | None = None,
    actor: str = "system",
    now: datetime | None = None,
    skip_voided: bool = True,
) -> list[Recovery]:
    """Recover each redemption named (in id order), once: a redemption already recovered
    answers its recovery again and changes nothing; a voided one paid nothing and is left
    out (or refused, `skip_voided=False`: REDEMPTION_NOT_RECOVERABLE). Unknown ids: 404."""
    now = now or datetime.now(UTC)
    out: list[Recovery] = []
    deaths: dict[uuid.UUID, date] | None = None
    for rid in sorted(set(redemption_ids)):
        r = await redemption_repo.lock_redemption(session, rid)
        if r is None:
            raise NotFound("No such redemption.", field="redemption_ids")
        existing = await repo.by_redemption(session, rid)
        if existing is not None:
            out.append(existing)
            continue
        if r.status == "voided":
            if skip_voided:
                continue
            raise RedemptionNotRecoverable(field="redemption_ids")
        if deaths is None:
            deaths = await lifecycle_facts.death_dates(session, [r.beneficiary_id])
        elif r.beneficiary_id not in deaths:
            deaths |= await lifecycle_facts.death_dates(session, [r.beneficiary_id])
        voucher = await repo.lock_voucher(session, r.voucher_id)
        destination = destination_of(
            deceased=r.beneficiary_id in deaths,
            at_fault=at_fault,
            voucher_status=voucher.status,
            valid_until=voucher.valid_until,
            now=now,
        )
        if destination == "voucher":
            await redemption_repo.restore_balance(
                session,
                voucher_id=r.voucher_id,
                subsidy_fen=r.subsidy_fen,
                day_on=r.day_on,
                now=now,
            )
        mode = "payable" if r.claimed_at is None else "receivable"
        recovery_id = new_uuid()
        event_id = await outbox_repo.enqueue(
            session,
            "redemption.recovered",
            {
                "program_code": voucher.program_code,
                "region_code": voucher.region_code,
                "budget_region_code": voucher.budget_region_code,
                "period": voucher.period,
                "funding_shares": voucher.funding_shares,
                "recovery_id": str(recovery_id),
                "redemption_id": str(r.id),
                "voucher_id": str(r.voucher_id),
                "beneficiary_id": str(r.beneficiary_id),
                "provider_id": r.provider_id,
                "subsidy_fen": r.subsidy_fen,
                "mode": mode,
                "destination": destination,
                "alert_id": str(alert_id) if alert_id else None,
                "reason": reason,
            },
            occurred_at=now,
        )
        recovery = Recovery(
            id=recovery_id,
            redemption_id=r.id,
            alert_id=alert_id,
            provider_id=r.provider_id,
            beneficiary_id=r.beneficiary_id,
            voucher_id=r.voucher_id,
            subsidy_fen=r.subsidy_fen,
            mode=mode,
            destination=destination,
            at_fault=at_fault,
            reason=reason,
            started_by=actor,
            event_id=event_id,
            created_at=now,
        )
        await repo.insert_recovery(session, recovery)
        out.append(recovery)
    return out
