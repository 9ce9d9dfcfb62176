"""Price lists that raise what public money pays wait for an officer.

Rule (docs/architecture.md, "Price list changes"): the provider's admin keeps its price list,
and Yiyang prices every bill by it, so a bill never exceeds the published 普惠 price. A list
that raises nothing (cheaper items, fewer items, new names or serving hours) replaces the
price list at once. A list that raises what a bill may cost -- a dearer item, a new item, a
higher ceiling of a variable-price item, more units a bill, an item moved to another
category (another programme may pay for it) -- is kept `pending` for a civil-affairs
officer of the provider's region while the provider is approved or suspended (an
application's list is reviewed with the application). Until the officer approves it, bills
are priced by the list approved before. A newer list supersedes a pending one; the officer
is never the person who asked (a CHECK in the database); each change is decided once (the
provider row is locked first, so officers racing are served one after the other, and the
second is refused with PRICE_CHANGE_NOT_PENDING). Every request and decision is kept, and
the provider's change log records them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.ids import new_uuid
from services.provider import schemas
from services.provider.errors import (
    PriceChangeNotFound,
    PriceChangeNotPending,
)
from services.provider.models import PriceListChange
from services.provider.repository import change_requests as changes
from services.provider.repository import directory as directory_repo
from services.provider.repository import price_changes as repo
from services.provider.repository import providers as providers_repo
from services.provider.repository.providers import ChangeDetail, PriceLine
from services.provider.service.access import ensure_insider, load_provider
from services.provider.service.change_rules import QUEUE_LIMIT, queue_prefix, record_decision
from services.provider.service.vocabulary import ProviderStatus

# The statuses whose price list was reviewed: a raise waits for an officer.
REVIEWED = (ProviderStatus.approved, ProviderStatus.suspended)


def _ceiling(line: PriceLine) -> int:
    """The most one unit may cost: the ceiling of a variable-price item, else its price."""
    ceiling = line["max_price_fen"] if line["variable_price"] else None
    return ceiling if ceiling is not None else line["price_fen"]


def raises(current: Sequence[PriceLine], proposed: Sequence[PriceLine]) -> list[str]:
    """The codes of `proposed` that raise what a bill may cost against `current`, in the
    proposed list's order."""
    now = {line["code"]: line for line in current}
    out = []
    for line in proposed:
        old = now.get(line["code"])
        if (
            old is None
            or line["price_fen"] > old["price_fen"]
            or _ceiling(line) > _ceiling(old)
            or line["max_per_visit"] > old["max_per_visit"]
            or line["category"] != old["category"]
        ):
            out.append(line["code"])
    return out


def _read(change: PriceListChange) -> schemas.PriceListChangeRead:
    return schemas.PriceListChangeRead(
        id=str(change.id),
        provider_id=str(change.provider_id),
        services=[schemas.ServiceItemRead(**line) for line in change.services],
        raises=list(change.raises),
        status=change.status,
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        decided_by=change.decided_by,
        decided_at=change.decided_at,
        reason=change.reason,
    )


async def apply_list(
    session: AsyncSession,
    provider_id: uuid.UUID,
    lines: list[PriceLine],
    actor: str,
    decision: ChangeDetail | None = None,
) -> None:
    """Replace the price list (the provider row locked by the caller): the directory feed,
    and so redemption, sees it with a new version; the change log keeps the whole list."""
    version = await directory_repo.next_version(session)
    await providers_repo.replace_services(session, provider_id, lines)
    await providers_repo.stamp_price_list(session, provider_id, version)
    await providers_repo.insert_change(
        session,
        provider_id=provider_id,
        kind="price_list",
        detail=ChangeDetail(services=lines, **(decision or {})),
        actor=actor,
        version=version,
    )


async def propose(
    session: AsyncSession,
    principal: Principal,
    provider_status: str,
    provider_id: uuid.UUID,
    lines: list[PriceLine],
) -> schemas.PriceListChangeRead | None:
    """The admin's new list (the provider row locked and the admin checked by the caller):
    applied at once, with None, unless it raises a reviewed list; then kept pending (an
    earlier pending one superseded either way), and the change answered."""
    await changes.supersede_pending(session, PriceListChange, provider_id)
    current = (await providers_repo.services_of(session, [provider_id])).get(provider_id, [])
    raised = raises(current, lines)
    if not raised or provider_status not in REVIEWED:
        await apply_list(session, provider_id, lines, principal.sub)
        return None
    change_id = new_uuid()
    await repo.insert_change(
        session,
        change_id=change_id,
        provider_id=provider_id,
        services=list(lines),
        raises=raised,
        requested_by=principal.sub,
    )
    version = await directory_repo.next_version(session)
    await providers_repo.insert_change(
        session,
        provider_id=provider_id,
        kind="price_list",
        detail={"status": "pending", "price_list_change_id": str(change_id), "raises": raised},
        actor=principal.sub,
        version=version,
    )
    change = await changes.get_change(session, PriceListChange, provider_id, change_id)
    assert change is not None  # inserted above
    return _read(change)


async def list_changes(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[schemas.PriceListChangeRead]:
    """Every price list change of the provider, newest first (its own people, officers and
    finance of its region, auditors, services)."""
    ensure_insider(principal, await load_provider(session, provider_id))
    return [_read(c) for c in await changes.changes_of(session, PriceListChange, provider_id)]


async def pending_in_region(
    session: AsyncSession, principal: Principal, region_code: str | None
) -> list[schemas.PendingPriceListChangeRead]:
    """The changes waiting for a decision within a region (the caller's by default, or one
    inside it), with the list the provider is priced by now; oldest first."""
    rows = await changes.pending_in_region(
        session, PriceListChange, queue_prefix(principal, region_code), QUEUE_LIMIT
    )
    current = await providers_repo.services_of(session, [p.id for _, p in rows])
    return [
        schemas.PendingPriceListChangeRead(
            **_read(change).model_dump(),
            provider_name=provider.name,
            region_code=provider.region_code,
            current=[schemas.ServiceItemRead(**line) for line in current.get(provider.id, [])],
        )
        for change, provider in rows
    ]


async def decide(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    change_id: uuid.UUID,
    *,
    approve: bool,
    reason: str | None,
) -> schemas.PriceListChangeRead:
    """Approve (bills are priced by this list from now on) or reject a pending change: an
    officer of the provider's region who did not ask for it."""
    _, change, status = await record_decision(
        session,
        principal,
        PriceListChange,
        provider_id,
        change_id,
        approve=approve,
        reason=reason,
        not_found=PriceChangeNotFound,
        not_pending=PriceChangeNotPending,
    )
    decision = ChangeDetail(status=status, price_list_change_id=str(change_id))
    if approve:
        lines = cast(list[PriceLine], change.services)  # written by `propose` from PriceLines
        await apply_list(session, provider_id, lines, principal.sub, decision)
    else:
        version = await directory_repo.next_version(session)
        await providers_repo.insert_change(
            session,
            provider_id=provider_id,
            kind="price_list",
            detail=decision,
            actor=principal.sub,
            version=version,
        )
    decided = await changes.get_change(session, PriceListChange, provider_id, change_id)
    assert decided is not None  # locked above; changes are never deleted
    return _read(decided)
