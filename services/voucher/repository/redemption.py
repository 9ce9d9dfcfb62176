"""SQL of the redemption hot path and its cold path (raw asyncpg, prepared statements).

`REDEEM` is the whole redemption in ONE statement, run in autocommit on `db.raw_pool`:

1. `pick`  locks the beneficiary's best usable voucher (active, in its window, allowing the
   provider's kind and the service's category, the provider's region inside the voucher's
   spend area; lowest priority first) and reads today's usage;
2. `calc`  applies the rule of service/redemption.py (`compute_split`) to it;
3. `upd`   takes the subsidy off the balance, moves the day counters, marks it exhausted at 0;
4. `nonce` records the QR nonce: its primary key makes a replayed token fail, even when many
   terminals race it, and the failure rolls back the whole statement;
5. `red`   records the redemption: unique (provider_id, idempotency_key);
6. `ev`    writes the `redemption.created` outbox event for the ledger.

When it returns no row, or a unique violation, `diagnose` in service (cold path) reads why.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

REDEEM = """
WITH pick AS (
  SELECT v.id, v.beneficiary_id, v.program_code, v.period, v.region_code,
         v.budget_region_code, v.funding_shares, v.balance_fen, v.ratio_bp, v.per_use_fen,
         v.per_txn_cap_fen, v.day_cap_fen, v.day_limit_count,
         CASE WHEN v.day_on = $7::date THEN v.day_count ELSE 0 END AS used_count,
         CASE WHEN v.day_on = $7::date THEN v.day_subsidy_fen ELSE 0 END AS used_fen
    FROM voucher v
   WHERE v.beneficiary_id = $1::uuid AND v.status = 'active'
     AND v.valid_from <= $8::timestamptz AND v.valid_until > $8::timestamptz
     AND $4::text = ANY (v.allowed_kinds) AND $5::text = ANY (v.allowed_categories)
     AND starts_with($17::text, v.spend_region_prefix)
   ORDER BY v.priority, v.valid_until, v.id
   LIMIT 1
   FOR UPDATE
), calc AS (
  SELECT p.*,
         least(CASE WHEN p.per_use_fen IS NOT NULL THEN p.per_use_fen
                    ELSE ($6::bigint * coalesce(p.ratio_bp, 10000)) / 10000 END,
               p.per_txn_cap_fen, p.balance_fen, p.day_cap_fen - p.used_fen) AS subsidy
    FROM pick p
   WHERE p.balance_fen > 0
     AND (p.day_limit_count IS NULL OR p.used_count < p.day_limit_count)
     AND (p.per_use_fen IS NULL OR $6::bigint > p.per_use_fen)
), upd AS (
  UPDATE voucher v
     SET balance_fen = v.balance_fen - c.subsidy,
         day_on = $7::date,
         day_count = c.used_count + 1,
         day_subsidy_fen = c.used_fen + c.subsidy,
         status = CASE WHEN v.balance_fen - c.subsidy = 0 THEN 'exhausted' ELSE v.status END,
         updated_at = $8::timestamptz
    FROM calc c
   WHERE v.id = c.id AND c.subsidy > 0
  RETURNING v.id, v.beneficiary_id, v.balance_fen, v.program_code, v.period, v.region_code,
            v.budget_region_code, v.funding_shares, c.subsidy
), nonce AS (
  INSERT INTO used_nonce (nonce, expires_at)
  SELECT $2::bytea, $3::timestamptz FROM upd WHERE $2::bytea IS NOT NULL
), red AS (
  INSERT INTO redemption (id, voucher_id, beneficiary_id, provider_id, terminal_id,
                          service_code, category, gross_fen, subsidy_fen, copay_fen,
                          balance_after_fen, idempotency_key, request_hash, nonce, card_id,
                          day_on, created_at)
  SELECT $9::uuid, u.id, u.beneficiary_id, $11::text, $12::text, $13::text, $5::text,
         $6::bigint, u.subsidy, $6::bigint - u.subsidy, u.balance_fen, $14::text, $15::bytea,
         $2::bytea, $16::uuid, $7::date, $8::timestamptz
    FROM upd u
), ev AS (
  INSERT INTO outbox (event_id, type, payload, occurred_at)
  SELECT $10::uuid, 'redemption.created',
         jsonb_build_object(
           'program_code', u.program_code, 'region_code', u.region_code,
           'budget_region_code', u.budget_region_code, 'period', u.period,
           'funding_shares', u.funding_shares,
           'redemption_id', $9::uuid::text, 'voucher_id', u.id::text,
           'beneficiary_id', u.beneficiary_id::text, 'provider_id', $11::text,
           'service_code', $13::text, 'gross_fen', $6::bigint, 'subsidy_fen', u.subsidy,
           'copay_fen', $6::bigint - u.subsidy),
         $8::timestamptz
    FROM upd u
)
SELECT $9::uuid AS id, u.id AS voucher_id, u.subsidy AS subsidy_fen,
       $6::bigint - u.subsidy AS copay_fen, u.balance_fen
  FROM upd u
"""


async def redeem(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    beneficiary_id: uuid.UUID,
    nonce: bytes | None,
    nonce_expires_at: datetime | None,
    provider_kind: str,
    category: str,
    gross_fen: int,
    today: date,
    now: datetime,
    redemption_id: uuid.UUID,
    event_id: uuid.UUID,
    provider_id: str,
    terminal_id: str | None,
    service_code: str,
    idempotency_key: str,
    request_hash: bytes,
    card_id: uuid.UUID | None,
    provider_region: str | None,
) -> asyncpg.Record | None:
    """Run the one-statement redemption; the row (id, voucher_id, subsidy_fen, copay_fen,
    balance_fen) on success, None when no voucher could pay. Raises UniqueViolationError on a
    used nonce or a repeated idempotency key (the statement then changed nothing)."""
    return await conn.fetchrow(
        REDEEM,
        beneficiary_id,
        nonce,
        nonce_expires_at,
        provider_kind,
        category,
        gross_fen,
        today,
        now,
        redemption_id,
        event_id,
        provider_id,
        terminal_id,
        service_code,
        idempotency_key,
        request_hash,
        card_id,
        provider_region,
    )


# --- cold path ----------------------------------------------------------------------------


async def by_idempotency_key(conn: Any, provider_id: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, voucher_id, subsidy_fen, copay_fen, balance_after_fen AS balance_fen, "
        "request_hash FROM redemption WHERE provider_id = $1 AND idempotency_key = $2",
        provider_id,
        key,
    )


async def nonce_used(conn: Any, nonce: bytes) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM used_nonce WHERE nonce = $1", nonce))


async def beneficiary_status(conn: Any, beneficiary_id: uuid.UUID) -> str | None:
    return await conn.fetchval("SELECT status FROM beneficiary WHERE id = $1", beneficiary_id)


async def candidate_voucher(
    conn: Any,
    beneficiary_id: uuid.UUID,
    kind: str,
    category: str,
    now: datetime,
    provider_region: str | None,
) -> asyncpg.Record | None:
    """The voucher the statement would have used, or else an exhausted one or one for
    another area, to explain a refusal."""
    return await conn.fetchrow(
        """SELECT id, status, balance_fen, ratio_bp, per_use_fen, per_txn_cap_fen, day_cap_fen,
                  day_limit_count, day_on, day_count, day_subsidy_fen, spend_region_prefix,
                  program_code
             FROM voucher
            WHERE beneficiary_id = $1 AND status IN ('active', 'exhausted')
              AND valid_from <= $4 AND valid_until > $4
              AND $2 = ANY (allowed_kinds) AND $3 = ANY (allowed_categories)
            ORDER BY coalesce(starts_with($5::text, spend_region_prefix), false) DESC,
                     status = 'active' DESC, priority, valid_until, id
            LIMIT 1""",
        beneficiary_id,
        kind,
        category,
        now,
        provider_region,
    )


async def purge_nonces(conn: Any, before: datetime) -> int:
    """Forget nonces whose tokens have expired anyway (a replay is then TOKEN_EXPIRED)."""
    status = await conn.execute("DELETE FROM used_nonce WHERE expires_at < $1", before)
    return int(status.split()[-1])


# --- void and claim -------------------------------------------------------------------------

REDEMPTION_COLUMNS = (
    "id, voucher_id, beneficiary_id, provider_id, terminal_id, service_code, category, "
    "gross_fen, subsidy_fen, copay_fen, balance_after_fen, day_on, created_at, status, "
    "voided_at, void_reason, claimed_at, claim_id"
)


async def lock_redemption(conn: Any, redemption_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REDEMPTION_COLUMNS} FROM redemption WHERE id = $1 FOR UPDATE", redemption_id
    )


async def get_redemption(conn: Any, redemption_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REDEMPTION_COLUMNS} FROM redemption WHERE id = $1", redemption_id
    )


async def restore_balance(
    conn: Any, *, voucher_id: uuid.UUID, subsidy_fen: int, day_on: date, now: datetime
) -> asyncpg.Record:
    """Give a voided redemption's subsidy back (and its use of the day's limits)."""
    return await conn.fetchrow(
        """UPDATE voucher
              SET balance_fen = balance_fen + $2,
                  status = CASE WHEN status = 'exhausted' THEN 'active' ELSE status END,
                  day_count = CASE WHEN day_on = $3 THEN greatest(day_count - 1, 0)
                                   ELSE day_count END,
                  day_subsidy_fen = CASE WHEN day_on = $3 THEN greatest(day_subsidy_fen - $2, 0)
                                         ELSE day_subsidy_fen END,
                  updated_at = $4
            WHERE id = $1
        RETURNING id, beneficiary_id, balance_fen, program_code, period, region_code,
                  budget_region_code, funding_shares::text AS funding_shares""",
        voucher_id,
        subsidy_fen,
        day_on,
        now,
    )


async def mark_voided(
    conn: Any, redemption_id: uuid.UUID, *, now: datetime, by: str, reason: str
) -> None:
    await conn.execute(
        "UPDATE redemption SET status = 'voided', voided_at = $2, voided_by = $3, "
        "void_reason = $4 WHERE id = $1",
        redemption_id,
        now,
        by,
        reason,
    )


async def insert_event(
    conn: Any, *, event_id: uuid.UUID, type_: str, payload_json: str, occurred_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, type, payload, occurred_at) VALUES ($1, $2, $3::jsonb, $4)",
        event_id,
        type_,
        payload_json,
        occurred_at,
    )


async def lock_many(conn: Any, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, status, claimed_at, claim_id FROM redemption WHERE id = ANY($1::uuid[]) "
        "ORDER BY id FOR UPDATE",
        ids,
    )


async def mark_claimed(conn: Any, ids: list[uuid.UUID], claim_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE redemption SET claimed_at = $3, claim_id = $2 "
        "WHERE id = ANY($1::uuid[]) AND claimed_at IS NULL",
        ids,
        claim_id,
        now,
    )


# --- lists ---------------------------------------------------------------------------------


async def for_provider_day(conn: Any, provider_id: str, day: date) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {REDEMPTION_COLUMNS} FROM redemption WHERE provider_id = $1 AND day_on = $2 "
        "ORDER BY created_at, id",
        provider_id,
        day,
    )


async def for_beneficiary(conn: Any, beneficiary_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {REDEMPTION_COLUMNS} FROM redemption WHERE beneficiary_id = $1 "
        "ORDER BY created_at DESC, id DESC LIMIT $2",
        beneficiary_id,
        limit,
    )


async def beneficiary_region(conn: Any, beneficiary_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, status, region_code FROM beneficiary WHERE id = $1", beneficiary_id
    )
