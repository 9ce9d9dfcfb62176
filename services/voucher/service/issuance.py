"""Issuance: a program's vouchers (or cash benefits) for a period and region.

How a run keeps money exact (docs/architecture.md "Ledger budget"):

1. One run at a time per program and period (an advisory lock held by a connection).
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

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.common.db import Database
from services.common.ids import new_uuid
from services.common.regions import significant_prefix
from services.common.settings import get_common_settings
from services.voucher.clients import BudgetExceeded, LedgerClient
from services.voucher.errors import (
    InvalidPeriod,
    IssuanceRunNotFound,
    LedgerRefused,
    LedgerUnavailable,
)
from services.voucher.repository import issuance as repo
from services.voucher.schemas.programs import SPEND_SCOPE_DIGITS
from services.voucher.service import programs as program_service
from services.voucher.service.assessment import add_months
from services.voucher.service.beneficiaries import check_region

log = logging.getLogger("yiyang.voucher.issuance")
_PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class RunResult:
    run_id: uuid.UUID
    status: str
    eligible: int
    issued: int
    skipped: int
    failed: int


def tz() -> ZoneInfo:
    return ZoneInfo(get_common_settings().timezone)


def parse_period(period: str) -> date:
    match = _PERIOD.match(period or "")
    if not match:
        raise InvalidPeriod(field="period")
    return date(int(match.group(1)), int(match.group(2)), 1)


def current_period(now: datetime | None = None) -> str:
    local = (now or datetime.now(tz())).astimezone(tz())
    return f"{local.year:04d}-{local.month:02d}"


def window(period: str) -> tuple[datetime, datetime]:
    """A monthly voucher is valid from the first instant of the calendar month (Asia/Shanghai)
    to the first instant of the next one (exclusive): no carry-over."""
    first = parse_period(period)
    nxt = add_months(first, 1)
    zone = tz()
    return (
        datetime(first.year, first.month, 1, tzinfo=zone),
        datetime(nxt.year, nxt.month, 1, tzinfo=zone),
    )


def _eligibility_params(
    config: Any, code: str, period: str, region_code: str, only_ids: list[uuid.UUID] | None
) -> dict[str, Any]:
    on = parse_period(period)
    rule = config.eligibility
    settings = [s for s in rule.care_settings if s in config.settings]
    return {
        "prefix": significant_prefix(region_code) + "%",
        "grades": list(rule.grades),
        "on": on,
        "born_by": add_months(on, -12 * rule.min_age),
        "dibao_required": rule.dibao_required,
        "settings": settings,
        "region_likes": [significant_prefix(r) + "%" for r in rule.regions],
        "only_ids": only_ids,
        "program_code": code,
        "period": period,
    }


def _chunks(
    rows: list[tuple[uuid.UUID, str, str]], size: int
) -> list[tuple[str, list[tuple[uuid.UUID, str]]]]:
    out: list[tuple[str, list[tuple[uuid.UUID, str]]]] = []
    for bid, region, setting in rows:
        if not out or out[-1][0] != region or len(out[-1][1]) >= size:
            out.append((region, []))
        out[-1][1].append((bid, setting))
    return out


class IssuanceEngine:
    """Runs issuance against a database and the ledger. Stateless between runs."""

    def __init__(self, db: Database, ledger: LedgerClient, chunk_size: int = 500) -> None:
        self.db = db
        self.ledger = ledger
        self.chunk_size = max(1, chunk_size)

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
        async with self.db.sessionmaker() as session:
            program = await program_service.get(session, program_code)
        lock_conn = await self.db.engine.connect()
        lock_conn = await lock_conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            await repo.lock_program_period(lock_conn, program_code, period)
            try:
                return await self._run_locked(
                    program, period, region_code, who, trigger, only_ids, run_id or new_uuid()
                )
            finally:
                await repo.unlock_program_period(lock_conn, program_code, period)
        except BaseException:
            # If the unlock itself failed, the lock must not go back to the pool with the
            # connection: dropping the connection releases it.
            await lock_conn.invalidate()
            raise
        finally:
            await lock_conn.close()

    async def _run_locked(
        self,
        program: program_service.LoadedProgram,
        period: str,
        region_code: str,
        who: str,
        trigger: str,
        only_ids: list[uuid.UUID] | None,
        run_id: uuid.UUID,
    ) -> RunResult:
        config = program.config
        table = "cash_benefit" if config.kind == "cash_benefit" else "voucher"
        params = _eligibility_params(config, program.code, period, region_code, only_ids)
        async with self.db.sessionmaker() as session, session.begin():
            await repo.insert_run(
                session,
                {
                    "id": run_id,
                    "program_code": program.code,
                    "program_version": program.version,
                    "period": period,
                    "region_code": region_code,
                    "trigger": trigger,
                    "created_by": who,
                },
            )
            open_chunks = await repo.open_chunks(session, program.code, period)
            await repo.mark_runs_resumed(session, [c["run_id"] for c in open_chunks], run_id)
        # 1. finish what a dead run left half done (same keys: the ledger commits nothing new)
        issued = failed = 0
        exhausted: set[str] = set()
        for chunk in open_chunks:
            n, refused = await self._settle_chunk(run_id, program, period, chunk)
            issued += n
            if refused:
                failed += len(chunk["beneficiary_ids"])
                exhausted.add(chunk["region_code"])
        # 2. count the scope, then issue to everyone still without one
        async with self.db.sessionmaker() as session, session.begin():
            eligible, already = await repo.count_eligible(session, table, params)
            todo = await repo.pending(session, table, params)
            seq = await repo.max_seq(session, run_id)
            await repo.set_counts(session, run_id, eligible, max(already - issued, 0))
        skipped = max(already - issued, 0)
        for region, members in _chunks(todo, self.chunk_size):
            if region in exhausted:
                failed += len(members)
                async with self.db.sessionmaker() as session, session.begin():
                    await repo.add_progress(session, run_id, failed=len(members))
                continue
            seq += 1
            chunk = {
                "id": new_uuid(),
                "run_id": run_id,
                "seq": seq,
                "program_code": program.code,
                "period": period,
                "region_code": region,
                "idempotency_key": f"issuance:{run_id}:{seq}",
                "beneficiary_ids": [m[0] for m in members],
                "amounts_fen": [config.settings[m[1]].face_fen for m in members],
            }
            chunk["amount_fen"] = sum(chunk["amounts_fen"])
            chunk["funding_shares"] = dict(config.funding_shares)
            async with self.db.sessionmaker() as session, session.begin():
                await repo.insert_chunk(session, chunk)  # the intent, before the ledger
            n, refused = await self._settle_chunk(run_id, program, period, chunk)
            issued += n
            if refused:
                failed += len(members)
                exhausted.add(region)
        status = "budget_exhausted" if exhausted else "completed"
        message = f"budget exhausted in {len(exhausted)} region(s)" if exhausted else None
        async with self.db.sessionmaker() as session, session.begin():
            await repo.finish_run(session, run_id, status, message)
        return RunResult(run_id, status, eligible, issued, skipped, failed)

    async def _settle_chunk(
        self,
        run_id: uuid.UUID,
        program: program_service.LoadedProgram,
        period: str,
        chunk: dict[str, Any],
    ) -> tuple[int, bool]:
        """Ask the ledger to commit a chunk's budget (by its key), then write what it paid
        for. Returns (written, refused)."""
        config = program.config
        try:
            commitment = await self.ledger.commit(
                idempotency_key=chunk["idempotency_key"],
                purpose="cash_benefit" if config.kind == "cash_benefit" else "voucher",
                program_code=program.code,
                region_code=chunk["region_code"],
                period=period,
                amount_fen=int(chunk["amount_fen"]),
                count=len(chunk["beneficiary_ids"]),
                funding_shares=chunk.get("funding_shares") or config.funding_shares,
            )
        except BudgetExceeded:
            async with self.db.sessionmaker() as session, session.begin():
                await repo.refuse_chunk(session, chunk["id"])
                await repo.add_progress(
                    session, run_id, failed=len(chunk["beneficiary_ids"]), chunks=1
                )
            return 0, True
        except LedgerUnavailable:
            # No answer: the ledger may or may not have committed. The intent stays open and
            # the next run asks again with the same key.
            async with self.db.sessionmaker() as session, session.begin():
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
                async with self.db.sessionmaker() as session, session.begin():
                    await repo.finish_run(
                        session,
                        run_id,
                        "interrupted",
                        "the ledger knows this chunk's key with another body",
                    )
                raise
            # A definitive refusal, recorded by the ledger under the key: nothing committed.
            async with self.db.sessionmaker() as session, session.begin():
                await repo.refuse_chunk(session, chunk["id"])
                await repo.add_progress(
                    session, run_id, failed=len(chunk["beneficiary_ids"]), chunks=1
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
        chunk: dict[str, Any],
        commitment_id: str,
        budget_region_code: str,
    ) -> int:
        config = program.config
        n = len(chunk["beneficiary_ids"])
        shares = chunk.get("funding_shares") or config.funding_shares
        async with self.db.sessionmaker() as session, session.begin():
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
                valid_from, valid_until = window(period)
                written = await repo.insert_vouchers(
                    session,
                    run_id=run_id,
                    chunk=chunk,
                    voucher_ids=[new_uuid() for _ in range(n)],
                    program_code=program.code,
                    program_version=program.version,
                    period=period,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    budget_region_code=budget_region_code,
                    settings={k: v.model_dump(mode="json") for k, v in config.settings.items()},
                    snapshot={
                        "per_use_fen": config.per_use_fen,
                        "per_txn_cap_fen": config.per_txn_cap_fen,
                        "day_cap_fen": config.day_cap_fen,
                        "day_limit_count": config.day_limit_count,
                        "funding_shares": shares,
                        "allowed_kinds": list(config.allowed_kinds),
                        "priority": config.priority,
                        "spend_digits": SPEND_SCOPE_DIGITS[config.spend_scope],
                    },
                )
            await repo.complete_chunk(session, chunk["id"], commitment_id, budget_region_code)
            await repo.add_progress(session, run_id, issued=written, skipped=n - written, chunks=1)
        if written < n:
            # Only possible if a voucher was written outside a run; its budget was committed
            # twice, which reconciliation will show. Counted, never hidden.
            log.warning("issuance chunk %s: %d of %d already issued", chunk["id"], n - written, n)
        return written


async def find_run(session: Any, run_id: uuid.UUID) -> dict[str, Any] | None:
    return await repo.get_run(session, run_id)


async def get_run(session: Any, run_id: uuid.UUID) -> dict[str, Any]:
    row = await repo.get_run(session, run_id)
    if row is None:
        raise IssuanceRunNotFound(field="run_id")
    return row


async def expire_lapsed(
    db: Database, now: datetime | None = None, batch: int = 5000
) -> dict[str, int]:
    """Lapse every voucher whose window has ended and release its unused balance to the
    budget (`voucher.expired` events), in batches, each its own transaction."""
    now = now or datetime.now(tz())
    totals = {"expired": 0, "events": 0, "released_fen": 0}
    while True:
        async with db.sessionmaker() as session, session.begin():
            expired, events, released = await repo.expire_due(session, now, batch)
        totals["expired"] += expired
        totals["events"] += events
        totals["released_fen"] += released
        if expired < batch:
            return totals
