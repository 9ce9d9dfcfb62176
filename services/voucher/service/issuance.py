"""Issuance: a program's vouchers (or cash benefits) for a period and region.

How a run keeps money exact (docs/architecture.md "Ledger budget"):

1. One run at a time per program and period: a lease row (models.IssuanceLock) taken in one
   statement, renewed before each chunk's intent (a run that lost it stops there), deleted at
   the end; a run whose process died leaves a lease that lapses after `lease_s`. Another run
   of the same program and period waits for it (at most `wait_s`, then 409
   ISSUANCE_RUN_IN_PROGRESS).
2. Chunks left open by a run that died are finished first, with their original idempotency
   key: the ledger answers what it answered before and commits nothing new.
3. The eligible people in scope who have nothing for the period are cut into chunks of one
   region each. For each chunk an intent (members, amounts, key `issuance:<run>:<seq>`) is
   committed BEFORE the ledger is asked to commit the budget; then the vouchers are written
   with the chunk marked done, in one transaction. A crash between the two leaves an intent
   that the next run completes; the database's one-per-period key makes a second voucher
   impossible anyway.
4. BUDGET_EXCEEDED (or NO_BUDGET) from the ledger stops that region cleanly (its people count as failed,
   nothing is written for them); other regions go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.errors import AppError
from services.common.ids import new_uuid
from services.common.regions import significant_prefix
from services.voucher.clients import LedgerClient
from services.voucher.errors import (
    BudgetExceeded,
    IssuanceLeaseLost,
    IssuanceRunInProgress,
    IssuanceRunNotFound,
    LedgerRefused,
    LedgerUnavailable,
)
from services.voucher.models import CashBenefit, IssuanceRun, Voucher
from services.voucher.repository import issuance as repo
from services.voucher.repository import schedule as schedule_repo
from services.voucher.schemas.issuance import ExpiryResult
from services.voucher.schemas.programs import SPEND_SCOPE_DIGITS, ProgramConfig
from services.voucher.service import programs as program_service
from services.voucher.service.assessment import add_months
from services.voucher.service.eligibility import age_on, amount_fen
from services.voucher.service.identity import check_region
from services.voucher.service.periods import current_period, parse_period, tz, window

log = logging.getLogger("yiyang.voucher.issuance")


@dataclass(frozen=True)
class RunResult:
    run_id: uuid.UUID
    status: str
    eligible: int
    issued: int
    skipped: int
    failed: int
    # people the programme would pay but for a reason (issuance_skip): {"assessment_lapsed": n}
    skip_reasons: dict[str, int] = field(default_factory=dict)


def eligibility_scope(
    config: ProgramConfig,
    code: str,
    period: str,
    region_code: str,
    only_ids: list[uuid.UUID] | None,
) -> repo.EligibilityScope:
    on = parse_period(period)
    rule = config.eligibility
    return repo.EligibilityScope(
        program_code=code,
        period=period,
        region_like=significant_prefix(region_code) + "%",
        grades=list(rule.grades),
        on=on,
        born_by=add_months(on, -12 * rule.min_age),
        dibao_required=rule.dibao_required,
        care_settings=[s for s in rule.care_settings if s in config.settings],
        region_likes=[significant_prefix(r) + "%" for r in rule.regions],
        only_ids=only_ids,
        rule=rule.rule,
        once=config.kind == "one_off",
        closed=config.kind == "one_off" and not in_window(config, period),
    )


def issued_table(config: ProgramConfig) -> type[Voucher] | type[CashBenefit]:
    """Where a programme's issuance writes: cash benefits, or vouchers."""
    return CashBenefit if config.kind == "cash_benefit" else Voucher


def amounts_of(config: ProgramConfig, members: list[repo.PendingPerson], on: date) -> list[int]:
    """What each person is issued: the face value of their care setting, or by their age on
    the period's first day for a programme paid by age band."""
    face_fen: dict[str, int] = {s: rule.face_fen for s, rule in config.settings.items()}
    return [
        amount_fen(config, m.care_setting, age_on(m.birth_on, on))
        if config.age_bands and m.birth_on is not None
        else face_fen[m.care_setting]
        for m in members
    ]


@dataclass(frozen=True)
class Preview:
    """What a run would do now, before it is started (nothing is written)."""

    eligible: int  # the people the programme pays in the region
    already: int  # of them, those who have the period's voucher (issued nothing again)
    to_issue: int  # the rest: what a run would issue
    to_issue_fen: int  # and what that commits of the budget
    lapsed: int  # would be paid but for a lapsed assessment: skipped, with that reason


async def preview(
    session: AsyncSession, program: program_service.LoadedProgram, period: str, region_code: str
) -> Preview:
    """The same queries a run makes (`_run_locked`), read only."""
    config = program.config
    table = issued_table(config)
    scope = eligibility_scope(config, program.code, period, region_code, None)
    eligible, already = await repo.count_eligible(session, table, scope)
    todo = await repo.pending(session, table, scope)
    return Preview(
        eligible=eligible,
        already=already,
        to_issue=len(todo),
        to_issue_fen=sum(amounts_of(config, todo, parse_period(period))),
        lapsed=await repo.count_lapsed(session, table, scope),
    )


def in_window(config: ProgramConfig, period: str) -> bool:
    """Is a period within a one-off programme's window (inclusive; an open end is open)?"""
    return (config.window_from is None or config.window_from <= period) and (
        config.window_until is None or period <= config.window_until
    )


def lease_period(config: ProgramConfig, period: str) -> str:
    """What a run's lease is taken on with its program: the period, or for a one-off
    programme every period at once (its people may be issued in any of them)."""
    return "once" if config.kind == "one_off" else period


def _chunks(
    people: list[repo.PendingPerson], size: int
) -> list[tuple[str, list[repo.PendingPerson]]]:
    """Cut the people (ordered by region) into chunks of at most `size`, one region each."""
    out: list[tuple[str, list[repo.PendingPerson]]] = []
    for person in people:
        if not out or out[-1][0] != person.region_code or len(out[-1][1]) >= size:
            out.append((person.region_code, []))
        out[-1][1].append(person)
    return out


def _terms(
    program: program_service.LoadedProgram,
    period: str,
    budget_region_code: str,
    shares: dict[str, int],
) -> repo.VoucherTerms:
    config = program.config
    valid_from, valid_until = window(period)
    if config.kind == "one_off":
        valid_until = window(add_months_period(period, config.valid_months - 1))[1]
    return repo.VoucherTerms(
        program_code=program.code,
        program_version=program.version,
        period=period,
        valid_from=valid_from,
        valid_until=valid_until,
        budget_region_code=budget_region_code,
        ratio_bp={s: rule.ratio_bp for s, rule in config.settings.items()},
        categories={s: list(rule.categories) for s, rule in config.settings.items()},
        per_use_fen=config.per_use_fen,
        per_txn_cap_fen=config.per_txn_cap_fen,
        day_cap_fen=config.day_cap_fen,
        day_limit_count=config.day_limit_count,
        funding_shares=shares,
        allowed_kinds=list(config.allowed_kinds),
        priority=config.priority,
        spend_digits=SPEND_SCOPE_DIGITS[config.spend_scope],
        once=config.kind == "one_off",
        visits=config.visits_per_period,
    )


def add_months_period(period: str, months: int) -> str:
    first = add_months(parse_period(period), months)
    return f"{first.year:04d}-{first.month:02d}"


class IssuanceEngine:
    """Runs issuance against a database and the ledger. Stateless between runs."""

    def __init__(
        self,
        db: Database,
        ledger: LedgerClient,
        chunk_size: int = 500,
        *,
        lease_s: float = 60.0,
        wait_s: float = 600.0,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.chunk_size = max(1, chunk_size)
        self.lease_s = lease_s
        self.wait_s = wait_s

    async def run(
        self,
        *,
        program_code: str,
        period: str,
        region_code: str,
        who: str,
        trigger: str = "run",
        only_ids: list[uuid.UUID] | None = None,
        run_id: uuid.UUID | None = None,
    ) -> RunResult:
        parse_period(period)
        check_region(region_code)
        async with self.db.unit_of_work(readonly=True) as session:
            program = await program_service.for_period(session, program_code, period)
        run_id = run_id or new_uuid()
        held = lease_period(program.config, period)
        await self._acquire(program_code, held, run_id)
        try:
            return await self._run_locked(
                program, period, held, region_code, who, trigger, only_ids, run_id
            )
        except IssuanceLeaseLost:
            async with self.db.unit_of_work() as session:
                await repo.finish_run(
                    session, run_id, "interrupted", "lost its lease; another run took over"
                )
            raise
        finally:
            try:
                async with self.db.unit_of_work() as session:
                    await repo.release_lease(session, program_code, held, run_id)
            except Exception as exc:  # the lease lapses by itself
                log.warning("issuance lease not released: %s", type(exc).__name__)

    async def _acquire(self, program_code: str, period: str, run_id: uuid.UUID) -> None:
        """Wait for the program and period's lease (polling: no connection is held while
        waiting, so a transaction-mode pooler is fine)."""
        deadline = time.monotonic() + self.wait_s
        pause = 0.05
        while True:
            async with self.db.unit_of_work() as session:
                if await repo.try_lease(session, program_code, period, run_id, self.lease_s):
                    return
            if time.monotonic() >= deadline:
                raise IssuanceRunInProgress(field="program_code")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _renew(
        self, session: AsyncSession, program_code: str, period: str, run_id: uuid.UUID
    ) -> None:
        if not await repo.renew_lease(session, program_code, period, run_id, self.lease_s):
            raise IssuanceLeaseLost(field="program_code")

    async def _run_locked(
        self,
        program: program_service.LoadedProgram,
        period: str,
        held: str,
        region_code: str,
        who: str,
        trigger: str,
        only_ids: list[uuid.UUID] | None,
        run_id: uuid.UUID,
    ) -> RunResult:
        config = program.config
        table = issued_table(config)
        scope = eligibility_scope(config, program.code, period, region_code, only_ids)
        async with self.db.unit_of_work() as session:
            await repo.insert_run(
                session,
                id=run_id,
                program_code=program.code,
                program_version=program.version,
                period=period,
                region_code=region_code,
                trigger=trigger,
                created_by=who,
            )
            open_chunks = await repo.open_chunks(session, program.code, period)
            await repo.mark_runs_resumed(session, [c.run_id for c in open_chunks], run_id)
        # 1. finish what a dead run left half done (same keys: the ledger commits nothing new)
        issued = failed = 0
        exhausted: set[str] = set()
        for chunk in open_chunks:
            async with self.db.unit_of_work() as session:
                await self._renew(session, program.code, held, run_id)
            n, refused = await self._settle_chunk(run_id, program, period, chunk)
            issued += n
            if refused:
                failed += len(chunk.beneficiary_ids)
                exhausted.add(chunk.region_code)
        # 2. count the scope, then issue to everyone still without one
        async with self.db.unit_of_work() as session:
            eligible, already = await repo.count_eligible(session, table, scope)
            todo = await repo.pending(session, table, scope)
            # who it would pay but for a lapsed assessment: recorded with that reason
            lapsed = await repo.record_lapsed(session, table, scope, run_id)
            seq = await repo.max_seq(session, run_id)
            await repo.set_counts(session, run_id, eligible, max(already - issued, 0))
        skipped = max(already - issued, 0)
        on = parse_period(period)
        for region, members in _chunks(todo, self.chunk_size):
            if region in exhausted:
                failed += len(members)
                async with self.db.unit_of_work() as session:
                    await repo.add_progress(session, run_id, failed=len(members))
                continue
            seq += 1
            amounts = amounts_of(config, members, on)
            chunk = repo.ChunkIntent(
                id=new_uuid(),
                run_id=run_id,
                seq=seq,
                region_code=region,
                idempotency_key=f"issuance:{run_id}:{seq}",
                beneficiary_ids=[m.id for m in members],
                amounts_fen=amounts,
                amount_fen=sum(amounts),
                funding_shares=dict(config.funding_shares),
            )
            async with self.db.unit_of_work() as session:
                # the fence: a run whose lease lapsed (and was taken) writes no intent
                await self._renew(session, program.code, held, run_id)
                await repo.insert_chunk(session, program.code, period, chunk)  # the intent first
            n, refused = await self._settle_chunk(run_id, program, period, chunk)
            issued += n
            if refused:
                failed += len(members)
                exhausted.add(region)
        status = "budget_exhausted" if exhausted else "completed"
        message = f"budget exhausted in {len(exhausted)} region(s)" if exhausted else None
        async with self.db.unit_of_work() as session:
            await repo.finish_run(session, run_id, status, message)
        reasons = {"assessment_lapsed": lapsed} if lapsed else {}
        return RunResult(run_id, status, eligible, issued, skipped, failed, reasons)

    async def _settle_chunk(
        self,
        run_id: uuid.UUID,
        program: program_service.LoadedProgram,
        period: str,
        chunk: repo.ChunkIntent,
    ) -> tuple[int, bool]:
        """Ask the ledger to commit a chunk's budget (by its key), then write what it paid
        for. Returns (written, refused)."""
        config = program.config
        try:
            commitment = await self.ledger.commit(
                idempotency_key=chunk.idempotency_key,
                purpose="cash_benefit" if config.kind == "cash_benefit" else "voucher",
                program_code=program.code,
                region_code=chunk.region_code,
                period=period,
                amount_fen=chunk.amount_fen,
                count=len(chunk.beneficiary_ids),
                funding_shares=chunk.funding_shares or config.funding_shares,
            )
        except BudgetExceeded:
            async with self.db.unit_of_work() as session:
                await repo.refuse_chunk(session, chunk.id)
                await repo.add_progress(
                    session, run_id, failed=len(chunk.beneficiary_ids), chunks=1
                )
            return 0, True
        except LedgerUnavailable:
            # No answer: the ledger may or may not have committed. The intent stays open and
            # the next run asks again with the same key.
            async with self.db.unit_of_work() as session:
                await repo.finish_run(
                    session,
                    run_id,
                    "interrupted",
                    "the ledger did not answer; retry the run to resume",
                )
            raise
        except LedgerRefused as refusal:
            if (refusal.details or {}).get("ledger_code") == "IDEMPOTENCY_KEY_REUSED":
                # The key was used with another body: what it committed is unknown here, so
                # the chunk stays open for a person to look at; never marked refused.
                async with self.db.unit_of_work() as session:
                    await repo.finish_run(
                        session,
                        run_id,
                        "interrupted",
                        "the ledger knows this chunk's key with another body",
                    )
                raise
            # A definitive refusal, recorded by the ledger under the key: nothing committed.
            async with self.db.unit_of_work() as session:
                await repo.refuse_chunk(session, chunk.id)
                await repo.add_progress(
                    session, run_id, failed=len(chunk.beneficiary_ids), chunks=1
                )
                await repo.finish_run(
                    session, run_id, "interrupted", f"the ledger refused: {refusal.code}"
                )
            raise
        written = await self._write(
            run_id, program, period, chunk, commitment.commitment_id, commitment.budget_region_code
        )
        return written, False

    async def _write(
        self,
        run_id: uuid.UUID,
        program: program_service.LoadedProgram,
        period: str,
        chunk: repo.ChunkIntent,
        commitment_id: str,
        budget_region_code: str,
    ) -> int:
        config = program.config
        n = len(chunk.beneficiary_ids)
        shares = chunk.funding_shares or config.funding_shares
        async with self.db.unit_of_work() as session:
            if config.kind == "cash_benefit":
                written = await repo.insert_cash_benefits(
                    session,
                    run_id=run_id,
                    chunk=chunk,
                    benefit_ids=[new_uuid() for _ in range(n)],
                    program_code=program.code,
                    program_version=program.version,
                    period=period,
                    budget_region_code=budget_region_code,
                    funding_shares=shares,
                )
            else:
                written = await repo.insert_vouchers(
                    session,
                    run_id=run_id,
                    chunk=chunk,
                    voucher_ids=[new_uuid() for _ in range(n)],
                    terms=_terms(program, period, budget_region_code, shares),
                )
            await repo.complete_chunk(session, chunk.id, commitment_id, budget_region_code)
            await repo.add_progress(session, run_id, issued=written, skipped=n - written, chunks=1)
        if written < n:
            # Only possible if a voucher was written outside a run; its budget was committed
            # twice, which reconciliation will show. Counted, never hidden.
            log.warning("issuance chunk %s: %d of %d already issued", chunk.id, n - written, n)
        return written


async def first_month(
    engine: IssuanceEngine, ids: list[uuid.UUID], programs: set[str], region_code: str, who: str
) -> tuple[set[str], set[str]]:
    """Issue the current month of each program to newly enrolled people at once (their
    enrolment is already committed). A program the ledger cannot fund now is reported as
    pending; the month's issuance run picks those people up later. -> (done, pending)."""
    done: set[str] = set()
    pending: set[str] = set()
    for code in sorted(programs):
        try:
            result = await engine.run(
                program_code=code,
                period=current_period(),
                region_code=region_code,
                who=who,
                trigger="enrolment",
                only_ids=ids,
            )
        except AppError as exc:
            log.warning("first-month issuance of %s deferred: %s", code, exc.code)
            pending.add(code)
            continue
        except Exception as exc:
            log.error("first-month issuance of %s failed: %s", code, type(exc).__name__)
            pending.add(code)
            continue
        (pending if result.failed else done).add(code)
    return done, pending


async def scheduled(
    session: AsyncSession, region: str | None, period: str | None
) -> list[schedule_repo.SlotRow]:
    """The scheduler's slots that concern a region (in it or over it); all for no region."""
    like = (significant_prefix(region) if region else "") + "%"
    return await schedule_repo.list_slots(session, region_like=like, period=period)


async def find_run(session: AsyncSession, run_id: uuid.UUID) -> IssuanceRun | None:
    return await repo.get_run(session, run_id)


async def recent_runs(session: AsyncSession, region_code: str, limit: int) -> list[IssuanceRun]:
    """The newest runs in a region and the regions under it (officers come back to a run
    they left, or see one another officer started)."""
    return await repo.recent_runs(session, significant_prefix(region_code), limit)


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> IssuanceRun:
    run = await repo.get_run(session, run_id)
    if run is None:
        raise IssuanceRunNotFound(field="run_id")
    return run


async def run_skips(
    session: AsyncSession, run_id: uuid.UUID, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """The people a run skipped and why (models.IssuanceSkip)."""
    return await repo.skips_of(session, run_id, limit)


async def expire_lapsed(
    db: Database, now: datetime | None = None, batch: int = 5000
) -> ExpiryResult:
    """Lapse every voucher whose window has ended and release its unused balance to the
    budget (`voucher.expired` events), in batches, each its own transaction."""
    now = now or datetime.now(tz())
    total = ExpiryResult(expired=0, events=0, released_fen=0)
    while True:
        async with db.unit_of_work() as session:
            expired, events, released = await repo.expire_due(session, now, batch)
        total = ExpiryResult(
            expired=total.expired + expired,
            events=total.events + events,
            released_fen=total.released_fen + released,
        )
        if expired < batch:
            return total
