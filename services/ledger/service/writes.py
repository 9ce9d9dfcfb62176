"""Writes to the ledger, each exactly once.

Every write runs in one transaction that first locks the book's head row: writers are
serialised (so a budget check made here cannot be invalidated before COMMIT, and balance
updates never deadlock), then the idempotency key (or event id) is looked up, and only then
is anything decided. Serialization failures and deadlocks are retried as a whole.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common.db import retry_transaction
from services.common.errors import AppError, Forbidden, IdempotencyKeyReused, db_error_to_app_error
from services.common.ids import new_uuid
from services.common.regions import ancestors
from services.ledger import chart, hashing
from services.ledger.errors import (
    AlreadyReversed,
    BudgetExceeded,
    EntryNotFound,
    NoBudget,
    PeriodAlreadyClosed,
    PeriodNotEnded,
)
from services.ledger.repository import journal as repo
from services.ledger.schemas import AppropriationCreate, CommitmentCreate, ReversalCreate
from services.ledger.service import plans
from services.ledger.service.plans import EntryPlan


@dataclass
class Outcome:
    status_code: int
    body: dict[str, Any]


Work = Callable[[asyncpg.Connection, repo.Head], Awaitable[tuple[int, dict[str, Any]]]]


async def _idempotent(
    pool: asyncpg.Pool,
    *,
    key: str,
    operation: str,
    body: dict[str, Any],
    created_by: str,
    work: Work,
) -> Outcome:
    """Run `work` once per idempotency key.

    The same key and body answer what the first call answered (a refusal included: a
    rejected request stays rejected); the same key with another body is IDEMPOTENCY_KEY_REUSED.
    `work` must decide a refusal before it writes anything; a refusal by the database itself
    rolls the work back and is then recorded under the key in a transaction of its own.
    """
    fingerprint = hashing.request_hash(operation, body)

    def check(rec: asyncpg.Record) -> Outcome:
        if rec["operation"] != operation or bytes(rec["request_hash"]) != fingerprint:
            raise IdempotencyKeyReused(field="idempotency_key")
        return Outcome(rec["status_code"], json.loads(rec["response"]))

    async def attempt() -> Outcome:
        async with pool.acquire() as conn, conn.transaction():
            head = await repo.lock_head(conn)
            rec = await repo.get_idempotency(conn, key)
            if rec is not None:
                return check(rec)
            try:
                status, response = await work(conn, head)
            except Forbidden:
                raise
            except AppError as refusal:
                status, response = refusal.status_code, refusal.body()
            await repo.put_idempotency(
                conn,
                key=key,
                operation=operation,
                request_hash=fingerprint,
                status_code=status,
                response=response,
                created_by=created_by,
            )
            return Outcome(status, response)

    try:
        return await retry_transaction(attempt)
    except asyncpg.PostgresError as exc:
        mapped = db_error_to_app_error(exc)
        if mapped is None or mapped.code == "RETRY_LATER":
            raise
        async with pool.acquire() as conn, conn.transaction():
            await repo.lock_head(conn)
            await repo.put_idempotency(
                conn,
                key=key,
                operation=operation,
                request_hash=fingerprint,
                status_code=mapped.status_code,
                response=mapped.body(),
                created_by=created_by,
            )
            rec = await repo.get_idempotency(conn, key)
        return check(rec)


def _refuse_overdraft(plan: EntryPlan, accounts: dict[chart.AccountKey, tuple[int, int]]) -> None:
    """Budget and outstanding accounts never cross zero (the database checks it again)."""
    for key, delta in sorted(plan.deltas().items(), key=lambda kv: kv[0].sort_key()):
        balance = accounts[key][1]
        if plans.overdraws(balance, delta, key):
            if key.code == chart.BUDGET_AVAILABLE:
                raise BudgetExceeded(
                    f"The {key.funding_source} budget of region {key.region_code} cannot "
                    "cover this.",
                    field="amount_fen",
                    details={"available_fen": -balance, "funding_source": key.funding_source},
                )
            raise AppError(
                f"Account {key.code} of region {key.region_code} would be overdrawn.",
                code="INSUFFICIENT_BALANCE",
                status_code=409,
            )


async def appropriate(pool: asyncpg.Pool, req: AppropriationCreate, created_by: str) -> Outcome:
    """Budget appropriated to a program and region, by funding source."""

    async def work(conn: asyncpg.Connection, head: repo.Head) -> tuple[int, dict[str, Any]]:
        plan = plans.appropriation(
            program_code=req.program_code,
            region_code=req.region_code,
            by_source=req.by_source,
            created_by=created_by,
            idempotency_key=req.idempotency_key,
            memo=req.memo,
        )
        accounts = await repo.resolve_accounts(conn, (p.account for p in plan.postings))
        [(entry_id, seq)] = await repo.write_entries(conn, head, [plan], accounts)
        _, available = await repo.budget_by_source(conn, req.program_code, [req.region_code])
        return 201, {
            "entry_id": str(entry_id),
            "seq": seq,
            "program_code": req.program_code,
            "region_code": req.region_code,
            "by_source": req.by_source,
            "available_fen": sum(available.values()),
            "available_by_source": available,
        }

    return await _idempotent(
        pool,
        key=req.idempotency_key,
        operation="appropriation",
        body=req.model_dump(mode="json"),
        created_by=created_by,
        work=work,
    )


async def commit_budget(pool: asyncpg.Pool, req: CommitmentCreate, created_by: str) -> Outcome:
    """Budget committed before vouchers (or cash benefits) are issued.

    The budget region is the nearest region at or above `region_code` that has budget for
    the program. Each funding source must cover its share (split by `funding_shares`);
    otherwise BUDGET_EXCEEDED and nothing is posted.
    """

    async def work(conn: asyncpg.Connection, head: repo.Head) -> tuple[int, dict[str, Any]]:
        region, available = await repo.budget_by_source(
            conn, req.program_code, ancestors(req.region_code)
        )
        if region is None:
            raise NoBudget(field="region_code")
        for source, part in plans.split_by_source(req.amount_fen, req.funding_shares):
            if available.get(source, 0) < part:
                raise BudgetExceeded(
                    f"The {source} budget cannot cover its share.",
                    field="amount_fen",
                    details={
                        "available_fen": sum(available.values()),
                        "by_source": available,
                        "funding_source": source,
                        "budget_region_code": region,
                    },
                )
        commitment_id = new_uuid()
        plan = plans.commitment(
            purpose=req.purpose,
            program_code=req.program_code,
            budget_region_code=region,
            amount_fen=req.amount_fen,
            shares_bp=req.funding_shares,
            created_by=created_by,
            idempotency_key=req.idempotency_key,
            ref=str(commitment_id),
        )
        accounts = await repo.resolve_accounts(conn, (p.account for p in plan.postings))
        _refuse_overdraft(plan, accounts)
        [(entry_id, _)] = await repo.write_entries(conn, head, [plan], accounts)
        await repo.insert_commitment(
            conn,
            id=commitment_id,
            entry_id=entry_id,
            idempotency_key=req.idempotency_key,
            purpose=req.purpose,
            program_code=req.program_code,
            region_code=req.region_code,
            budget_region_code=region,
            period=req.period,
            amount_fen=req.amount_fen,
            count=req.count,
        )
        return 201, {
            "commitment_id": str(commitment_id),
            "entry_id": str(entry_id),
            "amount_fen": req.amount_fen,
            "budget_region_code": region,
        }

    return await _idempotent(
        pool,
        key=req.idempotency_key,
        operation="commitment",
        body=req.model_dump(mode="json"),
        created_by=created_by,
        work=work,
    )


async def reverse_entry(
    pool: asyncpg.Pool,
    entry_id: uuid.UUID,
    req: ReversalCreate,
    created_by: str,
    authorise: Callable[[str | None], None],
) -> Outcome:
    """Correct an entry by its mirror image. An entry is reversed at most once (the database
    holds a unique key on reverses_entry_id), and a reversal may not overdraw a budget."""

    async def work(conn: asyncpg.Connection, head: repo.Head) -> tuple[int, dict[str, Any]]:
        found = await repo.entries_with_postings(conn, "e.id = $1", entry_id)
        if not found:
            raise EntryNotFound(field="entry_id")
        original = found[0]
        authorise(original.region_code)
        if original.already_reversed:
            raise AlreadyReversed(field="entry_id")
        plan = plans.reversal(
            original,
            kind="reversal",
            created_by=created_by,
            idempotency_key=req.idempotency_key,
            memo=req.reason,
        )
        accounts = await repo.resolve_accounts(conn, (p.account for p in plan.postings))
        _refuse_overdraft(plan, accounts)
        [(new_id, seq)] = await repo.write_entries(conn, head, [plan], accounts)
        return 201, {"entry_id": str(new_id), "seq": seq, "reverses_entry_id": str(entry_id)}

    return await _idempotent(
        pool,
        key=req.idempotency_key,
        operation="reversal",
        body={"entry_id": str(entry_id), **req.model_dump(mode="json")},
        created_by=created_by,
        work=work,
    )


async def close_period(
    pool: asyncpg.Pool, period: str, idempotency_key: str, created_by: str
) -> Outcome:
    """Close an accounting period once it has ended; the database then refuses any entry
    dated inside it."""

    async def work(conn: asyncpg.Connection, head: repo.Head) -> tuple[int, dict[str, Any]]:
        if period >= head.period:
            raise PeriodNotEnded(field="period")
        if await repo.closed_period(conn, period):
            raise PeriodAlreadyClosed(field="period")
        closed_at = await repo.close_period(conn, period, created_by)
        return 200, {
            "period": period,
            "status": "closed",
            "closed_at": closed_at.isoformat(),
            "closed_by": created_by,
        }

    return await _idempotent(
        pool,
        key=idempotency_key,
        operation="period_close",
        body={"period": period},
        created_by=created_by,
        work=work,
    )
