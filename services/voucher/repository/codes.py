"""SQL of printed cards (the PIN's hash and its failed attempts)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.voucher.service.codes import MAX_PIN_ATTEMPTS


async def card_by_nonce(conn: Any, nonce: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, beneficiary_id, pin_salt, pin_hash, failed_attempts, status "
        "FROM card WHERE nonce = $1",
        nonce,
    )


async def record_failure(conn: Any, card_id: uuid.UUID, now: datetime) -> asyncpg.Record:
    """Count one wrong PIN atomically; the fifth locks the card."""
    return await conn.fetchrow(
        """UPDATE card SET failed_attempts = least(failed_attempts + 1, $2),
                           status = CASE WHEN failed_attempts + 1 >= $2 THEN 'locked'
                                         ELSE status END,
                           locked_at = CASE WHEN failed_attempts + 1 >= $2 THEN $3
                                            ELSE locked_at END
            WHERE id = $1 AND status = 'active'
        RETURNING failed_attempts, status""",
        card_id,
        MAX_PIN_ATTEMPTS,
        now,
    )


async def reset_failures(conn: Any, card_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE card SET failed_attempts = 0 WHERE id = $1 AND status = 'active' "
        "AND failed_attempts > 0",
        card_id,
    )


async def replace_cards(conn: Any, beneficiary_id: uuid.UUID, now: datetime) -> int:
    status = await conn.execute(
        "UPDATE card SET status = 'replaced', replaced_at = $2 "
        "WHERE beneficiary_id = $1 AND status <> 'replaced'",
        beneficiary_id,
        now,
    )
    return int(status.split()[-1])


async def insert_card(
    conn: Any,
    *,
    card_id: uuid.UUID,
    beneficiary_id: uuid.UUID,
    nonce: bytes,
    pin_salt: bytes,
    pin_hash: bytes,
    created_by: str,
) -> None:
    await conn.execute(
        "INSERT INTO card (id, beneficiary_id, nonce, pin_salt, pin_hash, created_by) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        card_id,
        beneficiary_id,
        nonce,
        pin_salt,
        pin_hash,
        created_by,
    )


async def proxy_is_live(conn: Any, beneficiary_id: uuid.UUID, proxy_sub: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM proxy_authorisation WHERE beneficiary_id = $1 AND proxy_sub = $2"
            " AND status = 'active'",
            beneficiary_id,
            proxy_sub,
        )
    )


async def beneficiary(conn: Any, beneficiary_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, status, region_code FROM beneficiary WHERE id = $1", beneficiary_id
    )
