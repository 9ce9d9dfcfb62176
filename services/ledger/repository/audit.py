"""SQL of the audit queries. Callers run them inside one REPEATABLE READ, read-only
transaction, so every page, total and statement is one consistent snapshot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg


async def trial_balance(
    conn: asyncpg.Connection, as_of: datetime, region_prefix: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT a.id, a.code, a.name, a.kind, a.program_code, a.region_code, a.funding_source,
               a.provider_id, a.beneficiary_id, a.currency, s.debit_fen, s.credit_fen,
               s.balance_fen
          FROM (SELECT account_id,
                       coalesce(sum(amount_fen) FILTER (WHERE amount_fen > 0), 0)::bigint AS debit_fen,
                       coalesce(-sum(amount_fen) FILTER (WHERE amount_fen < 0), 0)::bigint AS credit_fen,
                       sum(amount_fen)::bigint AS balance_fen
                  FROM posting
                 WHERE posted_at <= $1 AND region_code LIKE $2 || '%'
                 GROUP BY account_id) s
          JOIN account a ON a.id = s.account_id
         ORDER BY a.code, a.region_code, a.program_code, a.funding_source, a.id
        """,
        as_of,
        region_prefix,
    )


async def account(conn: asyncpg.Connection, account_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM account WHERE id = $1", account_id)


async def entry_seqs(
    conn: asyncpg.Connection, where: Sequence[str], args: Sequence[Any], limit: int
) -> list[int]:
    n = len(args)
    sql = (
        "SELECT DISTINCT p.seq FROM posting p WHERE "
        + " AND ".join(where)
        + f" ORDER BY p.seq LIMIT ${n + 1}"
    )
    return [r["seq"] for r in await conn.fetch(sql, *args, limit)]


async def entries_by_seq(
    conn: asyncpg.Connection, seqs: Sequence[int]
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    entries = await conn.fetch(
        "SELECT * FROM entry WHERE book = 'main' AND seq = ANY($1::bigint[]) ORDER BY seq",
        list(seqs),
    )
    postings = await conn.fetch(
        "SELECT p.*, a.code AS account_code, a.name AS account_name FROM posting p "
        "JOIN account a ON a.id = p.account_id WHERE p.seq = ANY($1::bigint[]) "
        "ORDER BY p.seq, p.line",
        list(seqs),
    )
    return entries, postings


async def statement(
    conn: asyncpg.Connection,
    account_id: int,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> tuple[int, list[asyncpg.Record]]:
    opening = 0
    if start is not None:
        opening = await conn.fetchval(
            "SELECT coalesce(sum(amount_fen), 0)::bigint FROM posting WHERE account_id = $1 "
            "AND posted_at < $2",
            account_id,
            start,
        )
    lines = await conn.fetch(
        """
        SELECT p.seq, p.entry_id, p.line, p.amount_fen, p.posted_at, p.period, e.kind, e.ref,
               e.memo, p.provider_id, p.beneficiary_id, p.voucher_id
          FROM posting p JOIN entry e ON e.id = p.entry_id
         WHERE p.account_id = $1 AND ($2::timestamptz IS NULL OR p.posted_at >= $2)
           AND ($3::timestamptz IS NULL OR p.posted_at <= $3)
         ORDER BY p.seq, p.line LIMIT $4
        """,
        account_id,
        start,
        end,
        limit,
    )
    return opening, lines


async def chain_pages(
    conn: asyncpg.Connection, page: int = 500
) -> AsyncIterator[tuple[list[asyncpg.Record], list[asyncpg.Record]]]:
    """Entries in seq order, a page at a time, each page with its postings."""
    after = 0
    while True:
        entries = await conn.fetch(
            "SELECT * FROM entry WHERE book = 'main' AND seq > $1 ORDER BY seq LIMIT $2",
            after,
            page,
        )
        if not entries:
            return
        postings = await conn.fetch(
            "SELECT * FROM posting WHERE entry_id = ANY($1::uuid[]) ORDER BY entry_id, line",
            [e["id"] for e in entries],
        )
        yield entries, postings
        after = entries[-1]["seq"]


async def head(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow("SELECT * FROM book_head WHERE book = 'main'")


async def balance_mismatches(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch(
        """
        SELECT a.id FROM account a
          LEFT JOIN (SELECT account_id, sum(amount_fen) AS total FROM posting
                      GROUP BY account_id) s ON s.account_id = a.id
         WHERE a.balance_fen <> coalesce(s.total, 0) ORDER BY a.id LIMIT 10
        """
    )
    return [r["id"] for r in rows]


async def event_counts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT type, status, count(*) AS n FROM ledger_event GROUP BY type, status "
        "ORDER BY type, status"
    )


async def event_lag(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        SELECT max(occurred_at) AS last_occurred_at, max(received_at) AS last_received_at,
               extract(epoch FROM avg(received_at - occurred_at)) AS recent_lag_s
          FROM (SELECT occurred_at, received_at FROM ledger_event
                 ORDER BY received_at DESC LIMIT 100) recent
        """
    )


async def entry_region(conn: asyncpg.Connection, entry_id: uuid.UUID) -> str | None:
    return await conn.fetchval("SELECT region_code FROM entry WHERE id = $1", entry_id)
