"""The status workflow and the credit record."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import InvalidInput
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import IllegalTransition
from services.provider.repository import directory as directory_repo
from services.provider.repository import providers as providers_repo
from services.provider.repository import workflow as workflow_repo
from services.provider.service import review_rules
from services.provider.service.access import (
    ensure_admin_of,
    ensure_insider,
    ensure_officer_of,
    load_provider,
)
from services.provider.service.vocabulary import ProviderStatus


async def change_status(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    action: str,
    reason: str | None,
) -> schemas.StatusChanged:
    """Take one step of the review and status workflow (service/review_rules.py `STEPS`):
    approve, ask for changes, refuse, resubmit, suspend, revoke.

    Officers take every step for a provider of their region; a provider's own admin only
    resubmits its application after an officer asked for changes. The reason is kept in the
    history (the provider reads the officer's reason there). A step the provider's status does
    not allow is refused (ILLEGAL_TRANSITION) and changes nothing; the database's trigger
    refuses the same set.
    """
    step = review_rules.STEPS[action]
    if principal.role == Role.provider_admin and step.by_provider:
        ensure_admin_of(principal, provider_id)
        provider = await load_provider(session, provider_id, lock=True)
    else:
        provider = await load_provider(session, provider_id, lock=True)
        ensure_officer_of(principal, provider)
    current = provider.status
    if not review_rules.is_allowed(current, action):
        raise IllegalTransition(
            f"A provider cannot go from {current} to {step.target.value}.",
            field="status",
            details={"from": current, "to": step.target.value, "action": action},
        )
    if not reason:
        if step.reason_required:
            raise InvalidInput("A reason is required.", field="reason")
        reason = review_rules.RESUBMIT_REASON
    await _set_status(session, provider_id, current, step.target.value, reason, principal.sub)
    return schemas.StatusChanged(
        id=str(provider_id), status=step.target.value, previous_status=current
    )


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
    """Record a warning, violation or sanction with its points. With a `source_ref` it is
    recorded once per provider however often it is sent (the caller's retry).

    When the provider's points reach `credit_suspend_threshold` while it is approved, it is
    suspended in the same transaction, recorded in its history as automatic with the reason.
    The provider row is locked first, so concurrent additions are counted one after another
    and exactly one of them triggers the suspension.
    """
    provider = await load_provider(session, provider_id, lock=True)
    ensure_officer_of(principal, provider)
    status = provider.status  # as locked, before this event
    added = await workflow_repo.insert_credit_event(
        session,
        provider_id=provider_id,
        kind=data.kind.value,
        points=data.points,
        reason=data.reason,
        actor=principal.sub,
        source_ref=data.source_ref,
    )
    if not added:  # this source's event is on the record already: the record as it stands
        return await credit_record(session, principal, provider_id, settings)
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
