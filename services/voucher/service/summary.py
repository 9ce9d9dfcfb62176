"""The summariser: folds the outbox's `redemption.created` and `redemption.voided` events
after its cursor into `summary_use` (count and subsidy per region code, programme and
period of the voucher), in the same transaction as it moves the cursor, so each event is
counted exactly once; the cursor's row lock makes two summarisers take turns (the second
reads after the first committed). The redemption itself does no extra work.

Run every `summary_interval_s` by the voucher service (`yiyang up`) and on demand before a
dashboard read (`catch_up`, which skips when another summariser is at work)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.voucher.repository import summary as repo

log = logging.getLogger("yiyang.voucher.summary")

CURSOR = "dashboard"


@dataclass
class SummaryPass:
    start: int
    cursor: int
    events: int  # events read
    folded: int = 0  # of them, settled and summed
    locked_out: bool = False


def fold(events: list[repo.UseEvent]) -> list[repo.UseDelta]:
    """The events' sums per key: a redemption adds one and its subsidy, a void takes them
    away again (pure)."""
    sums: dict[tuple[str, str, str], tuple[int, int]] = {}
    for e in events:
        sign = 1 if e.type == "redemption.created" else -1
        key = (e.region_code, e.program_code, e.period)
        n, fen = sums.get(key, (0, 0))
        sums[key] = (n + sign, fen + sign * e.subsidy_fen)
    return [repo.UseDelta(r, p, pe, n, fen) for (r, p, pe), (n, fen) in sums.items()]


async def summarise_once(
    session: AsyncSession,
    *,
    batch_size: int = 5_000,
    settle_s: float = 2.0,
    wait: bool = True,
    now: datetime | None = None,
) -> SummaryPass:
    """One batch in the caller's transaction: the events after the cursor older than
    `settle_s` (a younger one, and all after it, wait for the next pass: a transaction still
    open may yet commit an earlier outbox id) are summed into `summary_use` and the cursor
    moves past them."""
    cursor = await repo.lock_cursor(session, CURSOR, wait=wait)
    if cursor is None:
        return SummaryPass(0, 0, 0, locked_out=True)
    events = await repo.events_after(session, cursor, batch_size)
    settled = (now or datetime.now(UTC)) - timedelta(seconds=settle_s)
    taken: list[repo.UseEvent] = []
    for e in events:
        if e.occurred_at > settled:
            break
        taken.append(e)
    if taken:
        await repo.add_use(session, fold(taken))
        await repo.set_cursor(session, CURSOR, taken[-1].id)
    return SummaryPass(cursor, taken[-1].id if taken else cursor, len(events), len(taken))


async def catch_up(db: Database, *, batch_size: int, settle_s: float, max_batches: int = 4) -> int:
    """Before a dashboard read: fold what is waiting, a batch per transaction, at most
    `max_batches` of them (a larger backlog is the background loop's work; the read then
    shows what is summed so far). Returns events folded; 0 at once when another summariser
    holds the cursor (it is doing the same work)."""
    folded = 0
    for _ in range(max_batches):
        async with db.unit_of_work() as session:
            done = await summarise_once(
                session, batch_size=batch_size, settle_s=settle_s, wait=False
            )
        if done.locked_out:
            break
        folded += done.folded
        if done.events < batch_size or done.cursor == done.start:
            break
    return folded


async def summarise_forever(
    db: Database, *, interval_s: float, settle_s: float, batch_size: int
) -> None:
    """The voucher service's loop: batches until nothing settled is left, then waits
    `interval_s`. A failure is logged and retried next time."""
    while True:
        try:
            while True:
                async with db.unit_of_work() as session:
                    done = await summarise_once(session, batch_size=batch_size, settle_s=settle_s)
                if done.events < batch_size or done.cursor == done.start:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("dashboard summary failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_s)
