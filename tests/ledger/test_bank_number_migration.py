"""Migration ledger_0110 encrypts the bank account numbers (and instruction files) stored before
it with the key of its documented setting, YIYANG_LEDGER_PII_ENCRYPTION_KEY, on its own (no
application code), decrypts them again on the way down, and refuses to guess a key outside
development and test."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import downgrade, upgrade

NUMBER = "6222021234567890123"
KEY = "5a" * 32  # not the development key: the setting is what is used


async def _with_plain_rows(make_db) -> tuple[str, uuid.UUID, bytes]:
    db = await make_db("ledger")
    await asyncio.to_thread(downgrade, "ledger", db.owner_url, "ledger_0103")
    body = (
        "batch_reference,line_reference,payee_name,bank_name,account_number,amount_fen,"
        f"purpose\r\nPB9,PB9-0001,青秀区长者食堂,工行,{NUMBER},100,颐养\r\n"
    ).encode()
    batch_id, claim_id = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(db.owner_url))
    try:
        await conn.execute(
            "INSERT INTO claim (id, provider_id, period, region_codes, status, submitted_by, "
            "approved_by) VALUES ($1, 'p1', '2026-11', '{450103}', 'batched', 'a', 'b')",
            claim_id,
        )
        await conn.execute(
            "INSERT INTO payment_batch (id, reference, region_code, total_fen, line_count, "
            "file_csv, file_sha256, idempotency_key, request_hash, created_by) VALUES "
            "($1, 'PB9', '450100', 100, 1, $2, $3, 'k', '\\x00', 'f')",
            batch_id,
            body,
            hashlib.sha256(body).hexdigest(),
        )
        await conn.execute(
            "INSERT INTO payment_line (reference, batch_id, claim_id, provider_id, payee_name, "
            "bank_name, account_number, amount_fen, purpose) VALUES "
            "('PB9-0001', $1, $2, 'p1', '青秀区长者食堂', '工行', $3, 100, '颐养')",
            batch_id,
            claim_id,
            NUMBER,
        )
    finally:
        await conn.close()
    return db.owner_url, batch_id, body


async def test_it_encrypts_existing_rows_with_the_key_of_its_setting(make_db, monkeypatch):
    url, batch_id, body = await _with_plain_rows(make_db)
    monkeypatch.setenv("YIYANG_LEDGER_PII_ENCRYPTION_KEY", KEY)
    await asyncio.to_thread(upgrade, "ledger", url, "ledger_0110")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        line = await conn.fetchrow("SELECT * FROM payment_line")
        batch = await conn.fetchrow("SELECT * FROM payment_batch")
    finally:
        await conn.close()
    aead = AESGCM(bytes.fromhex(KEY))
    enc, blob = bytes(line["account_number_enc"]), bytes(batch["file_enc"])
    assert "account_number" not in line and "file_csv" not in batch
    assert aead.decrypt(enc[:12], enc[12:], b"payment_line:PB9-0001").decode() == NUMBER
    assert line["account_number_masked"] == "*" * 15 + "0123"
    assert aead.decrypt(blob[:12], blob[12:], f"payment_batch:{batch_id}".encode()) == body

    await asyncio.to_thread(downgrade, "ledger", url, "ledger_0103")
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        assert await conn.fetchval("SELECT account_number FROM payment_line") == NUMBER
        assert bytes(await conn.fetchval("SELECT file_csv FROM payment_batch")) == body
    finally:
        await conn.close()


async def test_outside_development_it_needs_the_key_when_rows_need_it(make_db, monkeypatch):
    url, _, _ = await _with_plain_rows(make_db)
    monkeypatch.setenv("YIYANG_ENV", "production")
    monkeypatch.delenv("YIYANG_LEDGER_PII_ENCRYPTION_KEY", raising=False)
    with pytest.raises(RuntimeError, match="YIYANG_LEDGER_PII_ENCRYPTION_KEY"):
        await asyncio.to_thread(upgrade, "ledger", url, "ledger_0110")
    monkeypatch.setenv("YIYANG_LEDGER_PII_ENCRYPTION_KEY", "CHANGE_ME")
    with pytest.raises(RuntimeError, match="YIYANG_LEDGER_PII_ENCRYPTION_KEY"):
        await asyncio.to_thread(upgrade, "ledger", url, "ledger_0110")
    monkeypatch.setenv("YIYANG_LEDGER_PII_ENCRYPTION_KEY", KEY)
    await asyncio.to_thread(upgrade, "ledger", url)


async def test_with_nothing_to_rewrite_it_needs_no_key(make_db, monkeypatch):
    db = await make_db("ledger")
    monkeypatch.setenv("YIYANG_ENV", "production")
    monkeypatch.delenv("YIYANG_LEDGER_PII_ENCRYPTION_KEY", raising=False)
    await asyncio.to_thread(downgrade, "ledger", db.owner_url, "ledger_0103")
    await asyncio.to_thread(upgrade, "ledger", db.owner_url)
