"""Keyed writes, each exactly once: appropriations, commitments, reversals, period closes.

Every keyed write is one unit of work (`db.unit_of_work()`) that first takes its key's lock
(repository/posting.py `lock_key`: requests with the same key are decided one after the
other), then looks the key up, and only then decides anything. Before it reads a balance it
locks the head of the book it writes (`Journal.lock`, repository/posting.py `lock_heads`):
the writers of a book are serialised, so a budget check made here cannot be invalidated
before COMMIT and balance updates never deadlock. A serialisation failure or a deadlock
runs the whole unit of work again (`retry_transaction`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import BaseModel
from sqlalchemy import literal, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, raw_connection, retry_transaction
from services.common.errors import (
    AppError,
    Forbidden,
    IdempotencyKeyReused,
    RetryLater,
    db_error_to_app_error,
)
from services.ledger.models import IdempotencyRecord
from services.ledger.repository import idempotency, posting
from services.ledger.service import hashing


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a keyed write answers: its status and JSON body, the same on every replay."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Journal:
    """A keyed write's unit of work: its session, the session's own connection for the
    posting statements (repository/posting.py), and the heads of the books it has locked."""

    session: AsyncSession
    conn: asyncpg.Connection
    heads: posting.Heads

    async def lock(self, books: Iterable[str]) -> posting.Heads:
        """Lock these books' heads (before reading their balances)."""
        return await posting.lock_heads(self.conn, books, self.heads)

    async def lock_all(self) -> posting.Heads:
        return await posting.lock_all_heads(self.conn, self.heads)


async def open_journal(session: AsyncSession, key: str) -> Journal:
    """Take the idempotency key's lock inside `session`'s transaction.

    The posting statements run on the session's own asyncpg connection (`raw_connection`).
    SQLAlchemy begins the driver's transaction only at the first statement it runs itself, so
    a session that has run none yet runs a trivial one first: the head lock must belong to the
    unit of work, not to a statement of its own.
    """
    conn = await raw_connection(session)
    if not conn.is_in_transaction():
        await session.execute(select(literal(1)))
    await posting.lock_key(conn, key)
    return Journal(session, conn, posting.Heads())


Work = Callable[[Journal], Awaitable[tuple[int, BaseModel]]]


async def run_once(
    db: Database,
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
    rolls the work back and is then recorded under the key in a unit of work of its own.
    """
    fingerprint = hashing.request_hash(operation, body)

    def replay(rec: IdempotencyRecord) -> Outcome:
        if rec.operation != operation or bytes(rec.request_hash) != fingerprint:
            raise IdempotencyKeyReused(field="idempotency_key")
        return Outcome(rec.status_code, rec.response)

    async def record(session: AsyncSession, status: int, response: dict[str, Any]) -> None:
        await idempotency.put(
            session,
            key=key,
            operation=operation,
            request_hash=fingerprint,
            status_code=status,
            response=response,
            created_by=created_by,
        )

    async def attempt() -> Outcome:
        async with db.unit_of_work() as session:
            journal = await open_journal(session, key)
            rec = await idempotency.get(session, key)
            if rec is not None:
                return replay(rec)
            try:
                status, answer = await work(journal)
                response = answer.model_dump(mode="json", by_alias=True)
            except Forbidden:
                raise
            except AppError as refusal:
                status, response = refusal.status_code, refusal.body()
            await record(session, status, response)
            return Outcome(status, response)

    try:
        return await retry_transaction(attempt)
    except (DBAPIError, asyncpg.PostgresError) as exc:
        mapped = db_error_to_app_error(exc)
        if mapped is None or mapped.code == RetryLater.code:
            raise
        async with db.unit_of_work() as session:
            await open_journal(session, key)
            await record(session, mapped.status_code, mapped.body())
            rec = await idempotency.get(session, key)
        assert rec is not None
        return replay(rec)
