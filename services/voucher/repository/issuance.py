"""SQL for issuance runs: eligibility, chunk intents, bulk voucher / cash-benefit inserts,
progress counters, and the lapse of vouchers at the end of their window."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# --- the run lock --------------------------------------------------------------------------


async def lock_program_period(conn: AsyncConnection, program_code: str, period: str) -> None:
    """Session-level advisory lock: one issuance at a time per program and period, whatever
    the region (regions nest, so two runs could otherwise pick the same people). It is held
    by a connection, so a process that dies releases it with the connection."""
    await conn.execute(
        text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"issuance:{program_code}:{period}"}
    )


async def unlock_program_period(conn: AsyncConnection, program_code: str, period: str) -> None:
    await conn.execute(
        text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": f"issuance:{program_code}:{period}"}
    )


# --- runs ----------------------------------------------------------------------------------


async def insert_run(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(
        text(
            "INSERT INTO issuance_run (id, program_code, program_version, period, region_code, "
            " trigger, status, created_by) VALUES (:id, :program_code, :program_version, :period, "
            " :region_code, :trigger, 'running', :created_by)"
        ),
        row,
    )


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(
            text(
                "SELECT id, program_code, program_version, period, region_code, trigger, status, "
                " eligible, issued, skipped, failed, chunks_done, message, created_by, created_at, "
                " updated_at, finished_at FROM issuance_run WHERE id = :id"
            ),
            {"id": run_id},
        )
    ).first()
    return dict(row._mapping) if row else None


async def add_progress(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    issued: int = 0,
    skipped: int = 0,
    failed: int = 0,
    chunks: int = 0,
) -> None:
    await session.execute(
        text(
            "UPDATE issuance_run SET issued = issued + :i, skipped = skipped + :s, "
            " failed = failed + :f, chunks_done = chunks_done + :c, updated_at = now() "
            "WHERE id = :id"
        ),
        {"i": issued, "s": skipped, "f": failed, "c": chunks, "id": run_id},
    )


async def set_counts(session: AsyncSession, run_id: uuid.UUID, eligible: int, skipped: int) -> None:
    await session.execute(
        text(
            "UPDATE issuance_run SET eligible = :e, skipped = skipped + :s, updated_at = now() "
            "WHERE id = :id"
        ),
        {"e": eligible, "s": skipped, "id": run_id},
    )


async def finish_run(
    session: AsyncSession, run_id: uuid.UUID, status: str, message: str | None
) -> None:
    await session.execute(
        text(
            "UPDATE issuance_run SET status = CAST(:status AS text), message = :message, "
            " updated_at = now(), "
            " finished_at = CASE WHEN CAST(:status AS text) IN ('completed', 'budget_exhausted') "
            "  THEN now() "
            "  ELSE finished_at END WHERE id = :id"
        ),
        {"status": status, "message": message, "id": run_id},
    )


# --- eligibility ---------------------------------------------------------------------------


def _eligible_where(with_pending_filter: bool) -> str:
    sql = (
        "b.region_code LIKE :prefix AND b.status = 'active' AND b.grade = ANY(:grades) "
        "AND b.grade_valid_until >= :on AND b.birth_on <= :born_by "
        "AND (NOT :dibao_required OR b.dibao) AND b.care_setting = ANY(:settings) "
        "AND (cardinality(CAST(:region_likes AS text[])) = 0 "
        "     OR b.region_code LIKE ANY(CAST(:region_likes AS text[]))) "
        "AND (CAST(:only_ids AS uuid[]) IS NULL OR b.id = ANY(CAST(:only_ids AS uuid[]))) "
    )
    if with_pending_filter:
        # NOT IN over a (hashed) sub-select rather than NOT EXISTS: right after a bulk insert
        # the statistics are stale and the planner would pick a nested-loop anti-join that
        # scans the whole period's vouchers once per person (minutes instead of a second).
        sql += (
            "AND b.id NOT IN (SELECT x.beneficiary_id FROM {table} x "
            "  WHERE x.program_code = :program_code AND x.period = :period) "
            "AND b.id NOT IN (SELECT unnest(c.beneficiary_ids) FROM issuance_chunk c "
            "  WHERE c.program_code = :program_code AND c.period = :period "
            "  AND c.status IN ('intent', 'committed')) "
        )
    return sql


async def count_eligible(
    session: AsyncSession, table: str, params: dict[str, Any]
) -> tuple[int, int]:
    """(eligible, already issued) for the run's scope."""
    row = (
        await session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE b.id IN (SELECT x.beneficiary_id FROM "
                + table
                + " x WHERE x.program_code = :program_code AND x.period = :period)) "
                "FROM beneficiary b WHERE " + _eligible_where(False)
            ),
            params,
        )
    ).one()
    return int(row[0]), int(row[1])


async def pending(
    session: AsyncSession, table: str, params: dict[str, Any]
) -> list[tuple[uuid.UUID, str, str]]:
    """Eligible people in scope with nothing issued for the period and in no open chunk:
    (id, region_code, care_setting), grouped by region so a chunk has one budget region."""
    rows = await session.execute(
        text(
            "SELECT b.id, b.region_code, b.care_setting FROM beneficiary b WHERE "
            + _eligible_where(True).format(table=table)
            + "ORDER BY b.region_code, b.id"
        ),
        params,
    )
    return [(r[0], r[1], r[2]) for r in rows]


# --- chunks --------------------------------------------------------------------------------


async def open_chunks(
    session: AsyncSession, program_code: str, period: str
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT id, run_id, seq, region_code, idempotency_key, beneficiary_ids, amounts_fen, "
            " amount_fen, status, commitment_id, budget_region_code, funding_shares "
            "FROM issuance_chunk "
            "WHERE program_code = :p AND period = :period AND status IN ('intent', 'committed') "
            "ORDER BY created_at, seq"
        ),
        {"p": program_code, "period": period},
    )
    return [dict(r._mapping) for r in rows]


async def insert_chunk(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(
        text(
            "INSERT INTO issuance_chunk (id, run_id, seq, program_code, period, region_code, "
            " idempotency_key, beneficiary_ids, amounts_fen, amount_fen, funding_shares, status) "
            "VALUES (:id, :run_id, :seq, :program_code, :period, :region_code, :idempotency_key, "
            " :beneficiary_ids, :amounts_fen, :amount_fen, CAST(:funding_shares AS jsonb), "
            " 'intent')"
        ),
        {**row, "funding_shares": orjson.dumps(row["funding_shares"]).decode()},
    )


async def refuse_chunk(session: AsyncSession, chunk_id: uuid.UUID) -> None:
    await session.execute(
        text("UPDATE issuance_chunk SET status = 'refused', updated_at = now() WHERE id = :id"),
        {"id": chunk_id},
    )


async def complete_chunk(
    session: AsyncSession, chunk_id: uuid.UUID, commitment_id: str, budget_region_code: str
) -> None:
    await session.execute(
        text(
            "UPDATE issuance_chunk SET status = 'committed', commitment_id = :cid, "
            " budget_region_code = :brc, updated_at = now() WHERE id = :id AND status = 'intent'"
        ),
        {"cid": commitment_id, "brc": budget_region_code, "id": chunk_id},
    )
    await session.execute(
        text("UPDATE issuance_chunk SET status = 'done', updated_at = now() WHERE id = :id"),
        {"id": chunk_id},
    )


async def max_seq(session: AsyncSession, run_id: uuid.UUID) -> int:
    return int(
        (
            await session.execute(
                text("SELECT coalesce(max(seq), 0) FROM issuance_chunk WHERE run_id = :id"),
                {"id": run_id},
            )
        ).scalar()
    )


async def mark_runs_resumed(
    session: AsyncSession, run_ids: list[uuid.UUID], by_run: uuid.UUID
) -> None:
    await session.execute(
        text(
            "UPDATE issuance_run SET status = 'interrupted', updated_at = now(), "
            " message = 'resumed by run ' || CAST(:by AS text) "
            "WHERE id = ANY(:ids) AND id <> :by AND status = 'running'"
        ),
        {"ids": run_ids, "by": by_run},
    )


# --- writing what a chunk paid for ---------------------------------------------------------


async def insert_vouchers(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    chunk: dict[str, Any],
    voucher_ids: list[uuid.UUID],
    program_code: str,
    program_version: int,
    period: str,
    valid_from: datetime,
    valid_until: datetime,
    budget_region_code: str,
    settings: dict[str, Any],
    snapshot: dict[str, Any],
) -> int:
    """One INSERT ... SELECT for the whole chunk, rules copied from the program version onto
    each row (by the person's care setting). A person who already has this period's voucher
    is left alone (ON CONFLICT DO NOTHING on the one-per-period key). Returns rows written."""
    result = await session.execute(
        text(
            "INSERT INTO voucher (id, beneficiary_id, program_code, program_version, period, "
            " face_fen, balance_fen, valid_from, valid_until, status, region_code, "
            " budget_region_code, care_setting, ratio_bp, per_use_fen, per_txn_cap_fen, "
            " day_cap_fen, day_limit_count, funding_shares, allowed_kinds, allowed_categories, "
            " priority, spend_region_prefix, issuance_run_id) "
            "SELECT u.vid, b.id, :program_code, :program_version, :period, u.face, u.face, "
            " :valid_from, :valid_until, "
            " CASE WHEN b.status = 'active' THEN 'active' ELSE 'suspended' END, b.region_code, "
            " :budget_region_code, b.care_setting, "
            " CAST(CAST(:settings AS jsonb) -> b.care_setting ->> 'ratio_bp' AS integer), "
            " :per_use_fen, :per_txn_cap_fen, :day_cap_fen, :day_limit_count, "
            " CAST(:funding_shares AS jsonb), CAST(:allowed_kinds AS varchar(30)[]), "
            " ARRAY(SELECT jsonb_array_elements_text(CAST(:settings AS jsonb) -> b.care_setting "
            "  -> 'categories'))::varchar(40)[], "
            " :priority, region_spend_prefix(b.region_code, :spend_digits), :run_id "
            "FROM unnest(CAST(:vids AS uuid[]), CAST(:bids AS uuid[]), CAST(:faces AS bigint[])) "
            " AS u(vid, bid, face) JOIN beneficiary b ON b.id = u.bid "
            "ON CONFLICT ON CONSTRAINT uq_voucher_one_per_beneficiary_program_period DO NOTHING"
        ),
        {
            "program_code": program_code,
            "program_version": program_version,
            "period": period,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "budget_region_code": budget_region_code,
            "settings": orjson.dumps(settings).decode(),
            "per_use_fen": snapshot["per_use_fen"],
            "per_txn_cap_fen": snapshot["per_txn_cap_fen"],
            "day_cap_fen": snapshot["day_cap_fen"],
            "day_limit_count": snapshot["day_limit_count"],
            "funding_shares": orjson.dumps(snapshot["funding_shares"]).decode(),
            "allowed_kinds": snapshot["allowed_kinds"],
            "priority": snapshot["priority"],
            "spend_digits": snapshot["spend_digits"],
            "run_id": run_id,
            "vids": voucher_ids,
            "bids": list(chunk["beneficiary_ids"]),
            "faces": list(chunk["amounts_fen"]),
        },
    )
    return result.rowcount or 0


async def insert_cash_benefits(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    chunk: dict[str, Any],
    benefit_ids: list[uuid.UUID],
    program_code: str,
    program_version: int,
    period: str,
    budget_region_code: str,
    funding_shares: dict[str, int],
) -> int:
    """Record the chunk's cash benefits and, in the same statement, one `cash_benefit.issued`
    outbox event each (the ledger turns the commitment into a payable to the person)."""
    result = await session.execute(
        text(
            "WITH ins AS ("
            " INSERT INTO cash_benefit (id, beneficiary_id, program_code, program_version, period, "
            "  amount_fen, region_code, budget_region_code, funding_shares, issuance_run_id) "
            " SELECT u.cid, b.id, :program_code, :program_version, :period, u.amount, "
            "  b.region_code, :budget_region_code, CAST(:funding_shares AS jsonb), :run_id "
            " FROM unnest(CAST(:cids AS uuid[]), CAST(:bids AS uuid[]), CAST(:amounts AS bigint[])) "
            "  AS u(cid, bid, amount) JOIN beneficiary b ON b.id = u.bid "
            " ON CONFLICT ON CONSTRAINT uq_cash_benefit_one_per_beneficiary_program_period "
            " DO NOTHING RETURNING id, beneficiary_id, amount_fen, region_code) "
            "INSERT INTO outbox (event_id, type, payload) "
            "SELECT gen_random_uuid(), 'cash_benefit.issued', jsonb_build_object("
            " 'benefit_id', CAST(ins.id AS text), 'beneficiary_id', CAST(ins.beneficiary_id AS text), "
            " 'amount_fen', ins.amount_fen, 'program_code', CAST(:program_code AS text), "
            " 'region_code', ins.region_code, 'budget_region_code', CAST(:budget_region_code AS text), "
            " 'period', CAST(:period AS text), 'funding_shares', CAST(:funding_shares AS jsonb)) "
            "FROM ins"
        ),
        {
            "program_code": program_code,
            "program_version": program_version,
            "period": period,
            "budget_region_code": budget_region_code,
            "funding_shares": orjson.dumps(funding_shares).decode(),
            "run_id": run_id,
            "cids": benefit_ids,
            "bids": list(chunk["beneficiary_ids"]),
            "amounts": list(chunk["amounts_fen"]),
        },
    )
    return result.rowcount or 0


# --- lapse ---------------------------------------------------------------------------------


async def expire_due(session: AsyncSession, now: datetime, limit: int) -> tuple[int, int, int]:
    """Expire up to `limit` vouchers whose window has ended: status 'expired', the balance
    moves to `released_fen` (balance 0), and a `voucher.expired` event carries the released
    amount to the ledger, all in this one statement. Rows being redeemed right now are
    skipped (SKIP LOCKED) and caught by the next pass. -> (expired, events, released_fen)."""
    row = (
        await session.execute(
            text(
                "WITH due AS (SELECT id FROM voucher WHERE valid_until <= :now "
                "  AND status IN ('active', 'exhausted', 'suspended') ORDER BY valid_until, id "
                "  LIMIT :limit FOR UPDATE SKIP LOCKED), "
                "upd AS (UPDATE voucher v SET status = 'expired', released_fen = v.balance_fen, "
                "  balance_fen = 0, updated_at = now() FROM due WHERE v.id = due.id "
                "  RETURNING v.id, v.beneficiary_id, v.program_code, v.region_code, "
                "  v.budget_region_code, v.period, v.funding_shares, v.released_fen), "
                "ev AS (INSERT INTO outbox (event_id, type, payload) "
                "  SELECT gen_random_uuid(), 'voucher.expired', jsonb_build_object("
                "   'voucher_id', CAST(upd.id AS text), "
                "   'beneficiary_id', CAST(upd.beneficiary_id AS text), "
                "   'released_fen', upd.released_fen, 'program_code', upd.program_code, "
                "   'region_code', upd.region_code, 'budget_region_code', upd.budget_region_code, "
                "   'period', upd.period, 'funding_shares', upd.funding_shares) "
                "  FROM upd WHERE upd.released_fen > 0 RETURNING 1) "
                "SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM ev), "
                " (SELECT coalesce(sum(released_fen), 0) FROM upd)"
            ),
            {"now": now, "limit": limit},
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def vouchers_for_period(
    session: AsyncSession, program_code: str, period: str, on: date | None = None
) -> int:
    return int(
        (
            await session.execute(
                text("SELECT count(*) FROM voucher WHERE program_code = :p AND period = :period"),
                {"p": program_code, "period": period},
            )
        ).scalar()
    )
