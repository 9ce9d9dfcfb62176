"""Scheduled issuance: each program's period issued by itself, and vouchers lapsed.

Every tick (`YIYANG_VOUCHER_SCHEDULER_INTERVAL_S`):

1. Plan: for each program whose `schedule.auto` is on and whose time has come this month
   (`periods.due_period`: the first at 01:00 Asia/Shanghai by default), one slot per region it
   runs in (its eligibility regions, or the whole province) — created once, by its unique key
   (program, period, region), whoever creates it first.
2. Run: claim due slots one at a time (one statement, FOR UPDATE SKIP LOCKED: two schedulers
   never claim the same slot) and run the issuance engine for each, renewing the claim while
   the run lasts. The engine's lease on the program and period (models.IssuanceLock) orders
   the scheduler and an officer pressing the button: the second waits and then issues nothing
   new. A scheduler killed mid-run leaves a claim that lapses; the next claim starts a run
   that first finishes the dead run's open chunks with their original ledger keys.
3. Lapse: vouchers whose window ended are expired and their balance released
   (`issuance.expire_lapsed`, idempotent).

A run that fails (the ledger down, a refusal) is retried after `retry_s`, at most
`max_attempts` times; a run that ran out of budget is not retried (finance appropriates,
then an officer runs it). Both are shown on the officer's issuance page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.common.db import Database
from services.common.errors import AppError
from services.common.ids import new_uuid
from services.voucher.repository import schedule as repo
from services.voucher.service import programs as program_service
from services.voucher.service.issuance import IssuanceEngine, RunResult, expire_lapsed
from services.voucher.service.periods import due_period, tz

log = logging.getLogger("yiyang.voucher.scheduler")

WHO = "system:scheduler"


@dataclass(frozen=True)
class SlotOutcome:
    program_code: str
    period: str
    region_code: str
    status: str  # completed, budget_exhausted, failed
    run_id: uuid.UUID
    issued: int
    error: str | None


@dataclass(frozen=True)
class TickResult:
    planned: int
    outcomes: list[SlotOutcome]
    expired: int


def default_name() -> str:
    return f"scheduler:{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    def __init__(
        self,
        db: Database,
        engine: IssuanceEngine,
        *,
        province_code: str,
        name: str | None = None,
        lease_s: float = 120.0,
        retry_s: float = 900.0,
        max_attempts: int = 5,
    ) -> None:
        self.db = db
        self.engine = engine
        self.province_code = province_code
        self.name = name or default_name()
        self.lease_s = lease_s
        self.retry_s = retry_s
        self.max_attempts = max_attempts

    async def plan(self, now: datetime | None = None) -> int:
        """Create the slots that are due now; returns how many this call created."""
        now = now or datetime.now(tz())
        created = 0
        async with self.db.unit_of_work() as session:
            programs = await program_service.all_programs(session)
            for program in programs:
                schedule = program.config.schedule
                if not schedule.auto:
                    continue
                period = due_period(now, schedule.day, schedule.hour)
                if period is None:
                    continue
                regions = program.config.eligibility.regions or [self.province_code]
                for region in sorted(set(regions)):
                    if await repo.ensure_slot(session, program.code, period, region):
                        created += 1
        return created

    async def run_due(self) -> list[SlotOutcome]:
        """Claim and run due slots until none is left for this scheduler."""
        outcomes: list[SlotOutcome] = []
        tried: list[uuid.UUID] = []
        while True:
            run_id = new_uuid()
            async with self.db.unit_of_work() as session:
                slot = await repo.claim(
                    session,
                    by=self.name,
                    run_id=run_id,
                    lease_s=self.lease_s,
                    max_attempts=self.max_attempts,
                    exclude=tried,
                )
            if slot is None:
                return outcomes
            tried.append(slot.id)
            outcomes.append(
                await self._run_slot(
                    slot.id, slot.program_code, slot.period, slot.region_code, slot.attempts, run_id
                )
            )

    async def _run_slot(
        self,
        slot_id: uuid.UUID,
        program_code: str,
        period: str,
        region_code: str,
        attempt: int,
        run_id: uuid.UUID,
    ) -> SlotOutcome:
        keeper = asyncio.create_task(self._keep_claim(slot_id), name="scheduler-claim")
        result: RunResult | None = None
        error: str | None = None
        try:
            result = await self.engine.run(
                program_code=program_code,
                period=period,
                region_code=region_code,
                who=WHO,
                trigger="schedule",
                run_id=run_id,
            )
        except AppError as exc:
            error = exc.code
        except Exception as exc:  # recorded and retried; never kills the scheduler
            error = type(exc).__name__
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if result is not None:
            status = result.status if result.status == "budget_exhausted" else "completed"
            async with self.db.unit_of_work() as session:
                await repo.finish(session, slot_id, self.name, status)
            log.info(
                "scheduled issuance %s %s %s: %s, %d issued",
                program_code,
                period,
                region_code,
                status,
                result.issued,
            )
            return SlotOutcome(
                program_code, period, region_code, status, run_id, result.issued, None
            )
        retry = self.retry_s if attempt < self.max_attempts else None
        async with self.db.unit_of_work() as session:
            await repo.finish(
                session, slot_id, self.name, "failed", error=error, retry_after_s=retry
            )
        log.error(
            "scheduled issuance %s %s %s failed (attempt %d): %s",
            program_code,
            period,
            region_code,
            attempt,
            error,
        )
        return SlotOutcome(program_code, period, region_code, "failed", run_id, 0, error)

    async def _keep_claim(self, slot_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                async with self.db.unit_of_work() as session:
                    await repo.renew(session, slot_id, self.name, self.lease_s)
            except Exception as exc:
                log.warning("scheduler claim not renewed: %s", type(exc).__name__)

    async def tick(self, now: datetime | None = None) -> TickResult:
        planned = await self.plan(now)
        outcomes = await self.run_due()
        lapsed = await expire_lapsed(self.db)
        return TickResult(planned, outcomes, lapsed.expired)

    async def run_forever(self, stop: asyncio.Event, interval_s: float) -> None:
        log.info("scheduler %s started (every %.0f s)", self.name, interval_s)
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the database away for a moment: try again next tick
                log.error("scheduler tick failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
