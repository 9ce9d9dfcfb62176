"""SQL of the write path. Every write transaction first locks the book's head row
(`lock_head`), so writers are serialised and take every later lock in the same order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.ledger import hashing
from services.ledger.chart import CHART, AccountKey
from services.ledger.service.plans import EntryPlan, PostingPlan

TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Head:
    last_seq: int
    last_hash: bytes
    now: datetime

    @property
    def period(self) -> str:
        return self.now.astimezone(TZ).strftime("%Y-%m")


async def lock_head(conn: asyncpg.Connection, book: str = "main") -> Head:
    row = await conn.fetchrow(
        "SELECT last_seq, last_hash, greatest(clock_timestamp(), last_posted_at) AS now "
        "FROM book_head WHERE book = $1 FOR UPDATE",
        book,
    )
    return Head(row["last_seq"], bytes(row["last_hash"]), row["now"])


async def resolve_accounts(
    conn: asyncpg.Connection, keys: Iterable[AccountKey]
) -> dict[AccountKey, tuple[int, int]]:
    """Ids and current balances of the accounts, opening the ones that do not exist yet."""
    keys = sorted(set(keys), key=AccountKey.sort_key)
    if not keys:
        return {}
    cols = list(zip(*(k.as_tuple() for k in keys), strict=True))
    specs = [CHART[k.code] for k in keys]
    await conn.execute(
        """
        INSERT INTO account (code, program_code, region_code, funding_source, provider_id,
                             beneficiary_id, currency, name, kind, normal_sign, no_overdraft)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::text[], $9::text[], $10::int[],
                             $11::bool[])
        ON CONFLICT ON CONSTRAINT uq_account_dimensions DO NOTHING
        """,
        *cols,
        [s.name for s in specs],
        [s.kind for s in specs],
        [s.normal_sign for s in specs],
        [s.no_overdraft for s in specs],
    )
    rows = await conn.fetch(
        """
        SELECT k.ord, a.id, a.balance_fen
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                      $7::text[]) WITH ORDINALITY AS k(code, p, r, fs, pr, b, cur, ord)
          JOIN account a ON a.code = k.code AND a.program_code IS NOT DISTINCT FROM k.p
           AND a.region_code IS NOT DISTINCT FROM k.r AND a.funding_source IS NOT DISTINCT FROM k.fs
           AND a.provider_id IS NOT DISTINCT FROM k.pr AND a.beneficiary_id IS NOT DISTINCT FROM k.b
           AND a.currency = k.cur
        """,
        *cols,
    )
    return {keys[r["ord"] - 1]: (r["id"], r["balance_fen"]) for r in rows}


async def write_entries(
    conn: asyncpg.Connection,
    head: Head,
    plans: Sequence[EntryPlan],
    accounts: dict[AccountKey, tuple[int, int]],
) -> list[tuple[uuid.UUID, int]]:
    """Insert the entries and their postings, chained after `head` (which must be locked).

    One INSERT for all the entries and one for all their postings, whatever their number (the
    triggers check them per statement, migration ledger_0120). Every entry of a call shares
    the head's date and period, sent once. Each entry is hashed from the same plain values
    the rows are written from (`hashing.canonical_plain`), so the chain verifies.
    """
    if not plans:
        return []
    posted_at, period = head.now, head.period
    posted_text = hashing.utc_text(posted_at)
    e_rows: list[tuple[Any, ...]] = []
    p_rows: list[tuple[Any, ...]] = []
    prev = head.last_hash
    seq = head.last_seq
    for plan in plans:
        seq += 1
        entry_id = str(plan.id)
        doc = {
            "id": entry_id,
            "book": "main",
            "seq": seq,
            "kind": plan.kind,
            "posted_at": posted_text,
            "period": period,
            "program_code": plan.program_code,
            "region_code": plan.region_code,
            "provider_id": plan.provider_id,
            "beneficiary_id": plan.beneficiary_id,
            "voucher_id": plan.voucher_id,
            "ref": plan.ref,
            "event_id": _text(plan.event_id),
            "idempotency_key": plan.idempotency_key,
            "reverses_entry_id": _text(plan.reverses_entry_id),
            "memo": plan.memo,
            "created_by": plan.created_by,
        }
        lines = []
        for line, p in enumerate(plan.postings, start=1):
            k = p.account
            row = (
                plan.id,
                line,
                accounts[k][0],
                p.amount_fen,
                k.currency,
                seq,
                k.program_code or plan.program_code,
                k.region_code or plan.region_code,
                k.funding_source,
                k.provider_id or plan.provider_id,
                k.beneficiary_id or plan.beneficiary_id,
                plan.voucher_id,
            )
            p_rows.append(row)
            lines.append(
                {
                    "line": line,
                    "account_id": row[2],
                    "amount_fen": row[3],
                    "currency": row[4],
                    "seq": seq,
                    "posted_at": posted_text,
                    "period": period,
                    "program_code": row[6],
                    "region_code": row[7],
                    "funding_source": row[8],
                    "provider_id": row[9],
                    "beneficiary_id": row[10],
                    "voucher_id": row[11],
                }
            )
        h = hashing.entry_hash_plain(prev, doc, lines)
        e_rows.append(
            (
                plan.id,
                seq,
                plan.kind,
                plan.program_code,
                plan.region_code,
                plan.provider_id,
                plan.beneficiary_id,
                plan.voucher_id,
                plan.ref,
                plan.event_id,
                plan.idempotency_key,
                plan.reverses_entry_id,
                plan.memo,
                plan.created_by,
                prev,
                h,
            )
        )
        prev = h
    e_cols = (
        "id",
        "seq",
        "kind",
        "program_code",
        "region_code",
        "provider_id",
        "beneficiary_id",
        "voucher_id",
        "ref",
        "event_id",
        "idempotency_key",
        "reverses_entry_id",
        "memo",
        "created_by",
        "prev_hash",
        "hash",
    )
    e_types = (
        "uuid",
        "bigint",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "uuid",
        "text",
        "uuid",
        "text",
        "text",
        "bytea",
        "bytea",
    )
    n = len(e_cols)
    await conn.execute(
        f"INSERT INTO entry ({', '.join(e_cols)}, posted_at, period) "
        f"SELECT {', '.join(e_cols)}, ${n + 1}::timestamptz, ${n + 2}::text FROM unnest("
        + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(e_types))
        + f") WITH ORDINALITY AS t({', '.join(e_cols)}, ord) ORDER BY ord",
        *(list(c) for c in zip(*e_rows, strict=True)),
        posted_at,
        period,
    )
    p_cols = (
        "entry_id",
        "line",
        "account_id",
        "amount_fen",
        "currency",
        "seq",
        "program_code",
        "region_code",
        "funding_source",
        "provider_id",
        "beneficiary_id",
        "voucher_id",
    )
    p_types = (
        "uuid",
        "smallint",
        "bigint",
        "bigint",
        "text",
        "bigint",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
    )
    n = len(p_cols)
    await conn.execute(
        f"INSERT INTO posting ({', '.join(p_cols)}, posted_at, period) "
        f"SELECT *, ${n + 1}::timestamptz, ${n + 2}::text FROM unnest("
        + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(p_types))
        + ")",
        *(list(c) for c in zip(*p_rows, strict=True)),
        posted_at,
        period,
    )
    return [(r[0], r[1]) for r in e_rows]


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


# --- idempotency --------------------------------------------------------------------------


async def get_idempotency(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT operation, request_hash, status_code, response FROM idempotency_record "
        "WHERE key = $1",
        key,
    )


async def put_idempotency(
    conn: asyncpg.Connection,
    *,
    key: str,
    operation: str,
    request_hash: bytes,
    status_code: int,
    response: dict[str, Any],
    created_by: str,
) -> None:
    await conn.execute(
        "INSERT INTO idempotency_record (key, operation, request_hash, status_code, response, "
        "created_by) VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (key) DO NOTHING",
        key,
        operation,
        request_hash,
        status_code,
        json.dumps(response),
        created_by,
    )


# --- events -------------------------------------------------------------------------------


async def events_by_id(
    conn: asyncpg.Connection, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT event_id, status, request_hash, entry_id, error_code, error_message "
        "FROM ledger_event WHERE event_id = ANY($1::uuid[])",
        list(ids),
    )
    return {r["event_id"]: r for r in rows}


async def insert_events(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = (
        "event_id",
        "type",
        "status",
        "request_hash",
        "entry_id",
        "error_code",
        "error_message",
        "occurred_at",
    )
    types = ("uuid", "text", "text", "bytea", "uuid", "text", "text", "timestamptz")
    await conn.execute(
        f"INSERT INTO ledger_event ({', '.join(cols)}) SELECT * FROM unnest("
        + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
        + ")",
        *([r[c] for r in rows] for c in cols),
    )


# --- entries already written ---------------------------------------------------------------


async def entries_with_postings(
    conn: asyncpg.Connection, where: str, *args: Any
) -> list[EntryPlan]:
    """Entries matching `where` (SQL over alias e) as plans, with their accounts' keys, and
    whether each is already reversed (`memo` of the plan is left as stored)."""
    rows = await conn.fetch(
        f"""
        SELECT e.id, e.kind, e.program_code, e.region_code, e.provider_id, e.beneficiary_id,
               e.voucher_id, e.ref, e.created_by, e.memo,
               EXISTS (SELECT 1 FROM entry r WHERE r.reverses_entry_id = e.id) AS reversed,
               array_agg(p.amount_fen ORDER BY p.line) AS amounts,
               array_agg(a.code ORDER BY p.line) AS codes,
               array_agg(a.program_code ORDER BY p.line) AS programs,
               array_agg(a.region_code ORDER BY p.line) AS regions,
               array_agg(a.funding_source ORDER BY p.line) AS sources,
               array_agg(a.provider_id ORDER BY p.line) AS providers,
               array_agg(a.beneficiary_id ORDER BY p.line) AS beneficiaries,
               array_agg(a.currency ORDER BY p.line) AS currencies
          FROM entry e JOIN posting p ON p.entry_id = e.id JOIN account a ON a.id = p.account_id
         WHERE {where}
         GROUP BY e.id
        """,
        *args,
    )
    out = []
    for r in rows:
        postings = [
            PostingPlan(AccountKey(*key), amount)
            for amount, *key in zip(
                r["amounts"],
                r["codes"],
                r["programs"],
                r["regions"],
                r["sources"],
                r["providers"],
                r["beneficiaries"],
                [c.strip() for c in r["currencies"]],
                strict=True,
            )
        ]
        plan = EntryPlan(
            r["kind"],
            postings,
            r["created_by"],
            program_code=r["program_code"],
            region_code=r["region_code"],
            provider_id=r["provider_id"],
            beneficiary_id=r["beneficiary_id"],
            voucher_id=r["voucher_id"],
            ref=r["ref"],
            memo=r["memo"],
            id=r["id"],
            already_reversed=r["reversed"],
            in_db=True,
        )
        out.append(plan)
    return out


async def insert_commitment(conn: asyncpg.Connection, **row: Any) -> None:
    await conn.execute(
        "INSERT INTO commitment (id, entry_id, idempotency_key, purpose, program_code, "
        "region_code, budget_region_code, period, amount_fen, count) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        row["id"],
        row["entry_id"],
        row["idempotency_key"],
        row["purpose"],
        row["program_code"],
        row["region_code"],
        row["budget_region_code"],
        row["period"],
        row["amount_fen"],
        row["count"],
    )


async def budget_by_source(
    conn: asyncpg.Connection, program_code: str, region_codes: Sequence[str]
) -> tuple[str | None, dict[str, int]]:
    """The nearest of `region_codes` (most specific first) holding budget accounts for the
    program, and the available fen per funding source there."""
    rows = await conn.fetch(
        "SELECT region_code, funding_source, -balance_fen AS available FROM account "
        "WHERE code = '3001' AND program_code = $1 AND region_code = ANY($2::text[])",
        program_code,
        list(region_codes),
    )
    for region in region_codes:
        found = {r["funding_source"]: r["available"] for r in rows if r["region_code"] == region}
        if found:
            return region, found
    return None, {}


async def closed_period(conn: asyncpg.Connection, period: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM accounting_period WHERE period = $1", period))


async def close_period(conn: asyncpg.Connection, period: str, closed_by: str) -> datetime:
    return await conn.fetchval(
        "INSERT INTO accounting_period (period, closed_by) VALUES ($1, $2) RETURNING closed_at",
        period,
        closed_by,
    )
