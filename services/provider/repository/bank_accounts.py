"""Settlement bank account changes: a new request's row (the rest of a change's life is
repository/change_requests.py's; the rule, service/bank_account.py)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.provider.models import BankAccountChange


@dataclass(frozen=True, slots=True)
class NewBankChange:
    id: uuid.UUID
    provider_id: uuid.UUID
    bank_name: str
    account_name: str
    account_number_enc: bytes
    account_number_masked: str
    requested_by: str


async def insert_bank_change(session: AsyncSession, new: NewBankChange) -> None:
    await session.execute(insert(BankAccountChange).values(**asdict(new)))
