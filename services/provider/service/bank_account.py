"""Settlement bank account changes: asked by the provider's admin, decided by an officer.

Rule (docs/settlement.md, "Payee bank accounts"): a provider admin's new account never takes
effect by itself — it is kept as a `pending` change (a newer request supersedes an older
pending one) and the provider keeps being paid to the last approved account (the provider
row, which the ledger reads for its payment files) until a civil-affairs officer of the
provider's region approves it. The officer is never the person who asked (also a CHECK in
the database); each change is decided once (the provider row is locked first, so officers
racing to approve and reject are served one after the other, and the second is refused with
BANK_CHANGE_NOT_PENDING; the database refuses a second decision too). Every request and
decision is kept (the change rows and the provider's change log).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.ids import new_uuid
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import (
    BankChangeNotFound,
    BankChangeNotPending,
)
from services.provider.models import BankAccountChange
from services.provider.repository import bank_accounts as bank_repo
from services.provider.repository import change_requests as changes
from services.provider.repository import directory as directory_repo
from services.provider.repository import providers as providers_repo
from services.provider.repository.bank_accounts import NewBankChange
from services.provider.service.access import ensure_insider, load_provider
from services.provider.service.change_rules import QUEUE_LIMIT, queue_prefix, record_decision
from services.provider.service.pii import cipher, mask_account_number


def _read(change: BankAccountChange) -> schemas.BankAccountChangeRead:
    return schemas.BankAccountChangeRead(
        id=str(change.id),
        provider_id=str(change.provider_id),
        bank_name=change.bank_name,
        account_name=change.account_name,
        account_number_masked=change.account_number_masked,
        status=change.status,
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        decided_by=change.decided_by,
        decided_at=change.decided_at,
        reason=change.reason,
    )


async def request_change(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    account: schemas.BankAccountCreate,
    settings: ProviderSettings,
    version: int,
) -> uuid.UUID:
    """Record the admin's new account as pending (the caller holds the provider row lock
    and has checked the admin); the new change's id. An earlier pending change is
    superseded."""
    change_id = new_uuid()
    await changes.supersede_pending(session, BankAccountChange, provider_id)
    await bank_repo.insert_bank_change(
        session,
        NewBankChange(
            id=change_id,
            provider_id=provider_id,
            bank_name=account.bank_name,
            account_name=account.account_name,
            # the provider's own context, so an approved blob is copied onto the provider as is
            account_number_enc=cipher(settings).encrypt(
                account.account_number, context=str(provider_id).encode()
            ),
            account_number_masked=mask_account_number(account.account_number),
            requested_by=principal.sub,
        ),
    )
    await providers_repo.insert_change(
        session,
        provider_id=provider_id,
        kind="profile",
        detail={
            "fields": ["bank_account"],
            "status": "pending",
            "bank_account_change_id": str(change_id),
        },
        actor=principal.sub,
        version=version,
    )
    return change_id


async def pending_change(
    session: AsyncSession, provider_id: uuid.UUID
) -> schemas.BankAccountChangeRead | None:
    change = await changes.pending_of(session, BankAccountChange, provider_id)
    return _read(change) if change else None


async def list_changes(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[schemas.BankAccountChangeRead]:
    """Every bank account change of the provider, newest first (its own people, officers and
    finance of its region, auditors, services), numbers masked."""
    ensure_insider(principal, await load_provider(session, provider_id))
    return [_read(c) for c in await changes.changes_of(session, BankAccountChange, provider_id)]


async def pending_in_region(
    session: AsyncSession, principal: Principal, region_code: str | None
) -> list[schemas.PendingBankAccountChangeRead]:
    """The changes waiting for a decision within a region (the caller's by default, or one
    inside it): officers and finance of the region, auditors (everywhere); oldest first, at
    most QUEUE_LIMIT, numbers masked."""
    rows = await changes.pending_in_region(
        session, BankAccountChange, queue_prefix(principal, region_code), QUEUE_LIMIT
    )
    return [
        schemas.PendingBankAccountChangeRead(
            **_read(change).model_dump(),
            provider_name=provider.name,
            region_code=provider.region_code,
            current=schemas.CurrentBankAccount(
                bank_name=provider.bank_name,
                account_name=provider.bank_account_name,
                account_number_masked=provider.bank_account_number_masked,
            ),
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
) -> schemas.BankAccountChangeRead:
    """Approve (the provider is paid to this account from now on) or reject a pending
    change: an officer of the provider's region who did not ask for it."""
    _, change, status = await record_decision(
        session,
        principal,
        BankAccountChange,
        provider_id,
        change_id,
        approve=approve,
        reason=reason,
        not_found=BankChangeNotFound,
        not_pending=BankChangeNotPending,
    )
    version = await directory_repo.next_version(session)
    if approve:
        await providers_repo.update_profile(
            session,
            provider_id,
            {
                "bank_name": change.bank_name,
                "bank_account_name": change.account_name,
                "bank_account_number_enc": change.account_number_enc,
                "bank_account_number_masked": change.account_number_masked,
            },
            version,
        )
    else:
        await providers_repo.touch_provider(session, provider_id, version)
    await providers_repo.insert_change(
        session,
        provider_id=provider_id,
        kind="profile",
        detail={
            "fields": ["bank_account"],
            "status": status,
            "bank_account_change_id": str(change_id),
        },
        actor=principal.sub,
        version=version,
    )
    decided = await changes.get_change(session, BankAccountChange, provider_id, change_id)
    assert decided is not None  # the row locked above; changes are never deleted
    return _read(decided)
