"""The status workflow and the credit record."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Forbidden
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import IllegalTransition
from services.provider.repository import providers as repo
from services.provider.service.access import ensure_officer_of, is_insider, load_provider
from services.provider.service.vocabulary import ACTIONS, TRANSITIONS, ProviderStatus


async def change_status(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, action: str, reason: str
) -> dict[str, Any]:
    """Move a provider along applied -> approved -> suspended <-> approved -> revoked.

    Only an officer whose region covers the provider's may do it, with a reason, which is kept
    in the history. Anything else the workflow does not list is refused (ILLEGAL_TRANSITION);
    the database's trigger refuses the same set.
    """
    provider = await load_provider(session, provider_id, lock=True)
    ensure_officer_of(principal, provider)
    target = ACTIONS[action]
    current = provider["status"]
    if target not in TRANSITIONS[ProviderStatus(current)]:
        raise IllegalTransition(
            f"A provider cannot go from {current} to {target.value}.",
            field="status",
            details={"from": current, "to": target.value},
        )
    await _set_status(session, provider_id, current, target.value, reason, principal.sub)
    return {"id": str(provider_id), "status": target.value, "previous_status": current}


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
    version = await repo.next_version(session)
    await repo.set_status(session, provider_id, target, version)
    await repo.insert_status_change(
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
) -> list[dict[str, Any]]:
    provider = await load_provider(session, provider_id)
    if not is_insider(principal, provider):
        raise Forbidden(
            "This provider is outside your scope.", code="OUT_OF_SCOPE", field="provider_id"
        )
    return await repo.status_history(session, provider_id)


async def add_credit_event(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    data: schemas.CreditEventCreate,
    settings: ProviderSettings,
) -> dict[str, Any]:
    """Record a warning, violation or sanction with its points.

    When the provider's points reach `credit_suspend_threshold` while it is approved, it is
    suspended in the same transaction, recorded in its history as automatic with the reason.
    The provider row is locked first, so concurrent additions are counted one after another
    and exactly one of them triggers the suspension.
    """
    provider = await load_provider(session, provider_id, lock=True)
    ensure_officer_of(principal, provider)
    await repo.insert_credit_event(
        session,
        provider_id=provider_id,
        kind=data.kind.value,
        points=data.points,
        reason=data.reason,
        actor=principal.sub,
    )
    total = await repo.add_credit_points(session, provider_id, data.points)
    threshold = settings.credit_suspend_threshold
    if data.points > 0 and total >= threshold and provider["status"] == ProviderStatus.approved:
        await _set_status(
            session,
            provider_id,
            provider["status"],
            ProviderStatus.suspended.value,
            f"credit points {total} reached the threshold {threshold} "
            f"({data.kind.value}: {data.reason})",
            principal.sub,
            automatic=True,
        )
    return await credit_record(session, principal, provider_id, settings)


async def credit_record(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, settings: ProviderSettings
) -> dict[str, Any]:
    provider = await load_provider(session, provider_id)
    if not is_insider(principal, provider):
        raise Forbidden(
            "This provider is outside your scope.", code="OUT_OF_SCOPE", field="provider_id"
        )
    return {
        "provider_id": str(provider_id),
        "status": provider["status"],
        "credit_points": provider["credit_points"],
        "threshold": settings.credit_suspend_threshold,
        "events": await repo.credit_events(session, provider_id),
    }
