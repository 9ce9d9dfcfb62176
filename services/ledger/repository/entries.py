"""Journal entries read back as the plans they were written from (to reverse one)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.repository.posting import stored_plan
from services.ledger.service.plans import EntryPlan


async def entry_plan(session: AsyncSession, entry_id: uuid.UUID) -> EntryPlan | None:
    """The entry with its postings and their accounts' keys (the columns of
    `posting.REDEMPTION_ENTRIES`, one entry by id), and whether it is already reversed."""
    reversal = aliased(Entry)
    line = col(Posting.line)

    def agg(column: Any) -> ColumnElement[Any]:
        return func.array_agg(aggregate_order_by(column, line))

    columns: list[Any] = [
        col(Entry.id).label("id"),
        col(Entry.kind).label("kind"),
        col(Entry.program_code).label("program_code"),
        col(Entry.region_code).label("region_code"),
        col(Entry.provider_id).label("provider_id"),
        col(Entry.beneficiary_id).label("beneficiary_id"),
        col(Entry.voucher_id).label("voucher_id"),
        col(Entry.ref).label("ref"),
        col(Entry.created_by).label("created_by"),
        col(Entry.memo).label("memo"),
        exists().where(col(reversal.reverses_entry_id) == col(Entry.id)).label("reversed"),
        agg(col(Posting.amount_fen)).label("amounts"),
        agg(col(Account.code)).label("codes"),
        agg(col(Account.program_code)).label("programs"),
        agg(col(Account.region_code)).label("regions"),
        agg(col(Account.funding_source)).label("sources"),
        agg(col(Account.provider_id)).label("providers"),
        agg(col(Account.beneficiary_id)).label("beneficiaries"),
        agg(col(Account.currency)).label("currencies"),
    ]
    stmt = (
        select(*columns)
        .join(Posting, col(Posting.entry_id) == col(Entry.id))
        .join(Account, col(Account.id) == col(Posting.account_id))
        .where(col(Entry.id) == entry_id)
        .group_by(col(Entry.id))
    )
    row = (await session.execute(stmt)).mappings().one_or_none()
    return None if row is None else stored_plan(row)
