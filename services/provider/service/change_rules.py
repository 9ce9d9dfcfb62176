"""What a change asked by a provider's admin and decided by an officer must satisfy -- a
settlement bank account (service/bank_account.py), a dearer price list (service/
price_review.py): who decides, once, the decision's record, and the queue's region."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import AppError
from services.common.regions import is_valid_code_shape, significant_prefix
from services.provider.errors import (
    ApplicationRefused,
    InvalidQuery,
    MakerCheckerViolation,
    ProviderRevoked,
)
from services.provider.models import BankAccountChange, PriceListChange, Provider
from services.provider.repository import change_requests as changes
from services.provider.repository.change_requests import Change
from services.provider.service.access import ensure_officer_of, load_provider
from services.provider.service.vocabulary import ProviderStatus

# The most pending changes a queue answers at once.
QUEUE_LIMIT = 500


def ensure_decidable(
    principal: Principal,
    provider: Provider,
    change: BankAccountChange | PriceListChange,
    *,
    approve: bool,
    not_pending: type[AppError],
) -> None:
    """Decided by someone other than the asker (MAKER_CHECKER_VIOLATION), while pending
    (`not_pending`, with the status), and approved only for a provider still in the
    register (PROVIDER_REVOKED, APPLICATION_REFUSED)."""
    if change.requested_by == principal.sub:
        raise MakerCheckerViolation(
            "The person who asked for the change cannot decide it.", field="change_id"
        )
    if change.status != "pending":
        raise not_pending(field="change_id", details={"status": change.status})
    if approve and provider.status == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    if approve and provider.status == ProviderStatus.refused:
        raise ApplicationRefused(field="provider_id")


def queue_prefix(principal: Principal, region_code: str | None) -> str | None:
    """The region prefix of a queue of pending changes: officers and finance see their
    region (or one inside it), auditors everywhere (None) or the region they name."""
    if principal.role in (Role.civil_affairs, Role.finance):
        region_code = region_code or principal.region
        principal.ensure_region(region_code)
    if region_code is None:
        return None
    if not is_valid_code_shape(region_code):
        raise InvalidQuery("region_code is not a division code.", field="region_code")
    return significant_prefix(region_code)


async def record_decision(
    session: AsyncSession,
    principal: Principal,
    table: type[Change],
    provider_id: uuid.UUID,
    change_id: uuid.UUID,
    *,
    approve: bool,
    reason: str | None,
    not_found: type[AppError],
    not_pending: type[AppError],
) -> tuple[Provider, Change, str]:
    """Decide a pending change, once: the provider row locked first (officers racing are
    served one after the other), an officer of its region, the change locked and checked
    (`ensure_decidable`), the decision recorded; the provider and the change as they were,
    and the status given (approved, rejected). What the decision does is the caller's."""
    provider = await load_provider(session, provider_id, lock=True)
    ensure_officer_of(principal, provider)
    change = await changes.get_change(session, table, provider_id, change_id, lock=True)
    if change is None:
        raise not_found(field="change_id")
    ensure_decidable(principal, provider, change, approve=approve, not_pending=not_pending)
    status = "approved" if approve else "rejected"
    await changes.decide(session, table, change_id, status, principal.sub, reason)
    return provider, change, status
