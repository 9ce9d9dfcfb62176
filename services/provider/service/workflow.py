"""The status workflow and the credit record."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import IllegalTransition
from services.provider.repository import directory as directory_repo
from services.provider.repository import providers as providers_repo
from services.provider.repository import workflow as workflow_repo
from services.provider.service.access import ensure_insider, ensure_officer_of, load_provider
from services.provider.service.vocabulary import ACTIONS, TRANSITIONS, ProviderStatus


async def change_status(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, action: str, reason: str
) -> schemas.StatusChanged:
    """Move a provider along applied -> approved -> suspended <-> approved -> revoked.

    Only an officer whose region covers the provider's may do it, with a reason, which is kept
    in the history. Anything else the workflow does not list is refused (ILLEGAL_TRANSITION);
    the database's trigger refuses the same set.
    """
    provider = await load_provider(session, provider_id, lock=True)
    ensure_officer_of(principal, provider)
    target = ACTIONS[action]
    current = provider.status
    if target not in TRANSITIONS[ProviderStatus(current)]:
        raise IllegalTransition(
            f"A provider cannot go from {current} to {target.value}.",
            field="status",
            details={"from": current, "to": target.value},
        )
    await _set_status(session, provider_id, current, target.value, reason, principal.sub)
    return schemas.StatusChanged(id=str(provider_id), status=target.value, previous_status=current)


async def _set_status(
    session: AsyncSession,
    provider_id: uuid.UUID,
    current: str,
    target: str,
    reason: str,
    actor: str,
    *,
    automatic: bool = False,
) -> None:
    version = await directory_repo.next_version(session)
    await providers_repo.set_status(session, provider_id, target, version)
    await workflow_repo.insert_status_change(
        session,
        provider_id=provider_id,
        from_status=current,
        to_status=target,
        reason=reason,
        actor=actor,
        automatic=automatic,
    )


async def history(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[schemas.StatusChangeRead]:
    ensure_insider(principal, await load_provider(session, provider_id))
    return [
        schemas.StatusChangeRead.model_validate(h, from_attributes=True)
        for h in await workflow_repo.status_history(session, provider_id)
    ]


async def add_credit_event(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    data: schemas.CreditEventCreate,
    settings: ProviderSettings,
) -> schemas.CreditRecord:
    """Record a warning, violation or sanction with its points.

    When the provider's points reach `credit_suspend_threshold` while it is approved, it is
    suspended in the same transaction, recorded in its history as automatic with the reason.
    The provider row is locked first, so concurrent additions are counted one after another
    and exactly one of them triggers the suspension.
    """
    provider = await load_provider(session, provider_id, lock=True)
    ensure_officer_of(principal, provider)
    status = provider.status  # as locked, before this event
    await workflow_repo.insert_credit_event(
        session,
        provider_id=provider_id,
        kind=data.kind.value,
        points=data.points,
        reason=data.reason,
        actor=principal.sub,
    )
    total = await providers_repo.add_credit_points(session, provider_id, data.points)
    threshold = settings.credit_suspend_threshold
    if data.points > 0 and total >= threshold and status == ProviderStatus.approved:
        await _set_status(
            session,
            provider_id,
            status,
            ProviderStatus.suspended.value,
            f"credit points {total} reached the threshold {threshold} "
            f"({data.kind.value}: {data.reason})",
            principal.sub,
            automatic=True,
        )
    return await credit_record(session, principal, provider_id, settings)


async def credit_record(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, settings: ProviderSettings
) -> schemas.CreditRecord:
    provider = await load_provider(session, provider_id)
    ensure_insider(principal, provider)
    return schemas.CreditRecord(
        provider_id=str(provider_id),
        status=provider.status,
        credit_points=provider.credit_points,
        threshold=settings.credit_suspend_threshold,
        events=[
            schemas.CreditEventRead.model_validate(e, from_attributes=True)
            for e in await workflow_repo.credit_events(session, provider_id)
        ],
    )
