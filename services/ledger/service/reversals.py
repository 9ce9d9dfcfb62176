"""Corrections: an entry is reversed by its mirror image, never changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from services.common.db import Database
from services.ledger.errors import (
    AlreadyReversed,
    EntryNotFound,
    EntryNotReversible,
    ReversalByMaker,
)
from services.ledger.repository import entries
from services.ledger.schemas import ReversalCreate, ReversalRead
from services.ledger.service import plans
from services.ledger.service.budget import post
from services.ledger.service.idempotency import Journal, Outcome, run_once


async def reverse_entry(
    db: Database,
    entry_id: uuid.UUID,
    req: ReversalCreate,
    created_by: str,
    authorise: Callable[[str | None], None],
) -> Outcome:
    """Correct a manual entry by its mirror image. Only manual entries (plans.MANUAL_KINDS)
    are reversed by hand (ENTRY_NOT_REVERSIBLE otherwise), by another officer than the one
    who made them (REVERSAL_BY_MAKER); an entry is reversed at most once (the database holds
    a unique key on reverses_entry_id), and a reversal may not overdraw a budget.
    `authorise` is called with the entry's region before anything is decided."""

    async def work(journal: Journal) -> tuple[int, ReversalRead]:
        original = await entries.entry_plan(journal.session, entry_id)
        if original is None:
            raise EntryNotFound(field="entry_id")
        authorise(original.region_code)
        if not plans.reversible_by_hand(original.kind):
            raise EntryNotReversible(field="entry_id")
        if original.created_by == created_by:
            raise ReversalByMaker(field="entry_id")
        if original.already_reversed:
            raise AlreadyReversed(field="entry_id")
        plan = plans.reversal(
            original,
            kind="reversal",
            created_by=created_by,
            idempotency_key=req.idempotency_key,
            memo=req.reason,
        )
        written = await post(journal, plan)
        return 201, ReversalRead(
            entry_id=str(written.entry_id), seq=written.seq, reverses_entry_id=str(entry_id)
        )

    return await run_once(
        db,
        key=req.idempotency_key,
        operation="reversal",
        body={"entry_id": str(entry_id), **req.model_dump(mode="json")},
        created_by=created_by,
        work=work,
    )
