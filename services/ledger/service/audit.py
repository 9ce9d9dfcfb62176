"""Audit queries: trial balance, entries by every dimension, statements, chain verification.

Each runs in one REPEATABLE READ read-only transaction (one snapshot). Region scope is a
prefix of the region code (services.common.regions.significant_prefix of the caller's
region); a service sees everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from services.common.errors import InvalidInput
from services.ledger import hashing
from services.ledger.chart import CHART
from services.ledger.errors import AccountNotFound, FilterNotSupported
from services.ledger.repository import audit as repo
from services.ledger.repository import journal as journal_repo

ENTRY_DIMENSIONS = ("provider_id", "beneficiary_id", "voucher_id")


@asynccontextmanager
async def snapshot(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def trial_balance(
    pool: asyncpg.Pool, as_of: datetime | None, region_prefix: str
) -> dict[str, Any]:
    """Every account with postings in scope up to `as_of`: debit and credit totals and the
    balance. Each entry stays within one region, so the totals are equal in any scope."""
    async with snapshot(pool) as conn:
        if as_of is None:
            as_of = await conn.fetchval("SELECT clock_timestamp()")
        rows = await repo.trial_balance(conn, as_of, region_prefix)
    accounts = [
        {
            "account_id": str(r["id"]),
            "code": r["code"],
            "name": r["name"],
            "kind": r["kind"],
            "program_code": r["program_code"],
            "region_code": r["region_code"],
            "funding_source": r["funding_source"],
            "provider_id": r["provider_id"],
            "beneficiary_id": r["beneficiary_id"],
            "currency": r["currency"].strip(),
            "debit_fen": r["debit_fen"],
            "credit_fen": r["credit_fen"],
            "balance_fen": r["balance_fen"],
        }
        for r in rows
    ]
    debit = sum(a["debit_fen"] for a in accounts)
    credit = sum(a["credit_fen"] for a in accounts)
    return {
        "as_of": as_of.isoformat(),
        "accounts": accounts,
        "total_debit_fen": debit,
        "total_credit_fen": credit,
        "balanced": debit == credit,
    }


async def load_account(pool: asyncpg.Pool, account_id: int) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await repo.account(conn, account_id)
    if row is None:
        raise AccountNotFound(field="account")
    return row


async def entries(
    pool: asyncpg.Pool,
    *,
    region_prefix: str,
    account: asyncpg.Record | None,
    filters: dict[str, str],
    period: str | None,
    start: datetime | None,
    end: datetime | None,
    after_seq: int,
    limit: int,
) -> dict[str, Any]:
    """Entries having a posting that matches every filter, in seq order (keyset pages).

    A combination that could only ever be empty by construction is refused rather than
    answered empty: a dimension the account's postings never carry, an account outside the
    asked region, a time window that ends before it starts.
    """
    if start is not None and end is not None and start > end:
        raise FilterNotSupported("`from` is after `to`.", field="from")
    where = ["p.seq > $1"]
    args: list[Any] = [after_seq]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    if region_prefix:
        add("p.region_code LIKE {} || '%'", region_prefix)
    if account is not None:
        spec = CHART[account["code"]]
        for dim in ENTRY_DIMENSIONS:
            if dim in filters and dim not in spec.filterable:
                raise FilterNotSupported(
                    f"Postings of account {spec.code} ({spec.name}) never carry {dim}.", field=dim
                )
        if not (account["region_code"] or "").startswith(region_prefix):
            raise FilterNotSupported(
                "The account lies outside the region asked for.", field="region_code"
            )
        if "program_code" in filters and account["program_code"] != filters["program_code"]:
            raise FilterNotSupported(
                "The account belongs to another program.", field="program_code"
            )
        add("p.account_id = {}", account["id"])
    for dim in (*ENTRY_DIMENSIONS, "program_code"):
        if dim in filters:
            add(f"p.{dim} = {{}}", filters[dim])
    if period is not None:
        add("p.period = {}", period)
    if start is not None:
        add("p.posted_at >= {}", start)
    if end is not None:
        add("p.posted_at <= {}", end)
    async with snapshot(pool) as conn:
        seqs = await repo.entry_seqs(conn, where, args, limit + 1)
        more = len(seqs) > limit
        seqs = seqs[:limit]
        entry_rows, posting_rows = await repo.entries_by_seq(conn, seqs)
    by_entry: dict[Any, list[dict[str, Any]]] = {}
    for p in posting_rows:
        by_entry.setdefault(p["entry_id"], []).append(_posting_json(p))
    out = [_entry_json(e, by_entry.get(e["id"], [])) for e in entry_rows]
    return {"entries": out, "next_cursor": str(seqs[-1]) if more and seqs else None}


async def entry(pool: asyncpg.Pool, entry_id: Any) -> dict[str, Any] | None:
    async with snapshot(pool) as conn:
        seq = await conn.fetchval("SELECT seq FROM entry WHERE id = $1", entry_id)
        if seq is None:
            return None
        entry_rows, posting_rows = await repo.entries_by_seq(conn, [seq])
    return _entry_json(entry_rows[0], [_posting_json(p) for p in posting_rows])


def _posting_json(p: asyncpg.Record) -> dict[str, Any]:
    return {
        "line": p["line"],
        "account_id": str(p["account_id"]),
        "account": p["account_code"],
        "account_name": p["account_name"],
        "amount_fen": p["amount_fen"],
        "currency": p["currency"].strip(),
        "program_code": p["program_code"],
        "region_code": p["region_code"],
        "funding_source": p["funding_source"],
        "provider_id": p["provider_id"],
        "beneficiary_id": p["beneficiary_id"],
        "voucher_id": p["voucher_id"],
    }


def _entry_json(e: asyncpg.Record, postings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(e["id"]),
        "seq": e["seq"],
        "kind": e["kind"],
        "posted_at": e["posted_at"].isoformat(),
        "period": e["period"].strip(),
        "program_code": e["program_code"],
        "region_code": e["region_code"],
        "provider_id": e["provider_id"],
        "beneficiary_id": e["beneficiary_id"],
        "voucher_id": e["voucher_id"],
        "ref": e["ref"],
        "event_id": str(e["event_id"]) if e["event_id"] else None,
        "reverses_entry_id": str(e["reverses_entry_id"]) if e["reverses_entry_id"] else None,
        "memo": e["memo"],
        "created_by": e["created_by"],
        "hash": bytes(e["hash"]).hex(),
        "postings": postings,
    }


STATEMENT_MAX_LINES = 10_000


async def statement(
    pool: asyncpg.Pool, account: asyncpg.Record, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Opening balance, every posting in the window with the running balance, closing."""
    if start is not None and end is not None and start > end:
        raise FilterNotSupported("`from` is after `to`.", field="from")
    async with snapshot(pool) as conn:
        opening, lines = await repo.statement(
            conn, account["id"], start, end, STATEMENT_MAX_LINES + 1
        )
    if len(lines) > STATEMENT_MAX_LINES:
        raise InvalidInput(
            "Too many postings in this window; narrow from/to.", code="RANGE_TOO_LARGE", field="to"
        )
    running = opening
    out = []
    for r in lines:
        running += r["amount_fen"]
        out.append(
            {
                "seq": r["seq"],
                "entry_id": str(r["entry_id"]),
                "line": r["line"],
                "kind": r["kind"],
                "ref": r["ref"],
                "memo": r["memo"],
                "posted_at": r["posted_at"].isoformat(),
                "amount_fen": r["amount_fen"],
                "balance_fen": running,
                "provider_id": r["provider_id"],
                "beneficiary_id": r["beneficiary_id"],
                "voucher_id": r["voucher_id"],
            }
        )
    spec = CHART[account["code"]]
    return {
        "account_id": str(account["id"]),
        "code": account["code"],
        "name": spec.name,
        "region_code": account["region_code"],
        "program_code": account["program_code"],
        "funding_source": account["funding_source"],
        "provider_id": account["provider_id"],
        "beneficiary_id": account["beneficiary_id"],
        "normal_sign": spec.normal_sign,
        "from": _iso(start),
        "to": _iso(end),
        "opening_balance_fen": opening,
        "closing_balance_fen": running,
        "lines": out,
    }


async def verify_chain(pool: asyncpg.Pool) -> dict[str, Any]:
    """Recompute the hash chain from the first entry, streaming pages; name the first entry
    whose sequence, link or hash is wrong, and check that stored balances equal the sum of
    their postings."""
    checked = 0
    prev = hashing.GENESIS_HASH
    expected_seq = 1
    async with snapshot(pool) as conn:
        async for entries, postings in repo.chain_pages(conn):
            by_entry: dict[Any, list[Any]] = {}
            for p in postings:
                by_entry.setdefault(p["entry_id"], []).append(p)
            for e in entries:
                reason = None
                if e["seq"] != expected_seq:
                    reason = f"sequence gap: expected {expected_seq}, found {e['seq']}"
                elif bytes(e["prev_hash"]) != prev:
                    reason = "prev_hash does not match the previous entry"
                elif hashing.entry_hash(
                    prev, _as_dict(e), [_as_dict(p) for p in by_entry.get(e["id"], [])]
                ) != bytes(e["hash"]):
                    reason = "hash does not match the entry and its postings"
                if reason:
                    return {
                        "ok": False,
                        "entries_checked": checked,
                        "head_hash": bytes(prev).hex(),
                        "first_bad_entry": {"id": str(e["id"]), "seq": e["seq"], "reason": reason},
                    }
                prev = bytes(e["hash"])
                expected_seq += 1
                checked += 1
        h = await repo.head(conn)
        mismatched = await repo.balance_mismatches(conn)
    if h["last_seq"] != checked or bytes(h["last_hash"]) != prev:
        return {
            "ok": False,
            "entries_checked": checked,
            "head_hash": bytes(prev).hex(),
            "first_bad_entry": None,
            "reason": "the book's head does not match its last entry",
        }
    if mismatched:
        return {
            "ok": False,
            "entries_checked": checked,
            "head_hash": prev.hex(),
            "first_bad_entry": None,
            "reason": "stored balances differ from postings",
            "accounts": [str(a) for a in mismatched],
        }
    return {"ok": True, "entries_checked": checked, "head_hash": prev.hex()}


def _as_dict(r: asyncpg.Record) -> dict[str, Any]:
    d = dict(r)
    for k in ("currency", "period"):
        if isinstance(d.get(k), str):
            d[k] = d[k].strip()
    return d


async def budget(pool: asyncpg.Pool, program_code: str, regions: list[str]) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        region, by_source = await journal_repo.budget_by_source(conn, program_code, regions)
    return {
        "budget_region_code": region,
        "available_fen": sum(by_source.values()),
        "by_source": dict(sorted(by_source.items())),
    }


async def metrics(pool: asyncpg.Pool, process: dict[str, int]) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        counts = await repo.event_counts(conn)
        lag = await repo.event_lag(conn)
        h = await repo.head(conn)
    return {
        "entries": h["last_seq"],
        "last_posted_at": _iso(h["last_posted_at"]) if h["last_seq"] else None,
        "events": [{"type": r["type"], "status": r["status"], "count": r["n"]} for r in counts],
        "last_event_occurred_at": _iso(lag["last_occurred_at"]),
        "last_event_received_at": _iso(lag["last_received_at"]),
        "recent_delivery_lag_s": float(lag["recent_lag_s"])
        if lag["recent_lag_s"] is not None
        else None,
        "process": dict(process),
    }
