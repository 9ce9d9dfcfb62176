"""Accounting periods: a period that has ended can be closed; the database then refuses any
entry dated inside it (PERIOD_CLOSED)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.common.db import Database
from services.ledger.errors import PeriodAlreadyClosed, PeriodNotEnded
from services.ledger.repository import periods as repo
from services.ledger.schemas import PeriodCloseRead
from services.ledger.service import snapshots
from services.ledger.service.idempotency import Journal, Outcome, run_once


def _this_month() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


async def close_period(db: Database, period: str, idempotency_key: str, created_by: str) -> Outcome:
    """Close an accounting period once it has ended (before the month of the books' clock).
    Every book's head is locked: no entry of any book is being written meanwhile, and the
    period's balance snapshot (service/snapshots.py) is written with the close."""

    async def work(journal: Journal) -> tuple[int, PeriodCloseRead]:
        heads = await journal.lock_all()
        clock = max((h.period for h in heads.values()), default=None) or _this_month()
        if period >= clock:
            raise PeriodNotEnded(field="period")
        if await repo.is_closed(journal.session, period):
            raise PeriodAlreadyClosed(field="period")
        closed_at = await repo.close(journal.session, period, created_by)
        held = min((h.now for h in heads.values()), default=closed_at)
        await snapshots.take(journal.session, snapshots.period_end(period), held)
        return 200, PeriodCloseRead(
            period=period, status="closed", closed_at=closed_at.isoformat(), closed_by=created_by
        )

    return await run_once(
        db,
        key=idempotency_key,
        operation="period_close",
        body={"period": period},
        created_by=created_by,
        work=work,
    )
