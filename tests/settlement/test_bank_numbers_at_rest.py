"""Bank account numbers in the ledger are encrypted at rest (payment lines and the stored
instruction file), masked in JSON reads, never logged; the downloaded file is byte for byte
what was produced (its SHA-256 matches); rows written before encryption are migrated."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid

import asyncpg

from services.common.migrate import downgrade, upgrade
from services.ledger.settlement.service.secrets import bank_cipher, line_context, open_file
from tests.settlement.test_batches import _approved_claim

NUMBER = "6222021234567890123"  # tests/provider/conftest.py application()


async def test_numbers_are_encrypted_masked_and_the_file_still_matches(paying, caplog):
    s = paying
    caplog.set_level(logging.DEBUG)
    pid, term = await s.provider()
    await _approved_claim(s, pid, term, (10_000,))
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": "batch-rest-0001"},
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert NUMBER not in r.text
    assert batch["lines"][0]["account_number_masked"] == "*" * 15 + "0123"
    read = await s.lc.get(f"/v1/payment-batches/{batch['id']}", headers=s.finance())
    assert read.status_code == 200 and NUMBER not in read.text
    assert read.json()["lines"][0]["account_number_masked"].endswith("0123")

    conn = await s.owner()
    try:
        line = await conn.fetchrow("SELECT * FROM payment_line")
        row = await conn.fetchrow("SELECT * FROM payment_batch")
        as_text = await conn.fetchval("SELECT string_agg(t::text, '') FROM payment_line t")
        batch_text = await conn.fetchval("SELECT t::text FROM payment_batch t")
    finally:
        await conn.close()
    assert "account_number" not in line and "file_csv" not in row
    assert NUMBER.encode() not in bytes(line["account_number_enc"])
    assert NUMBER not in as_text and NUMBER not in batch_text
    assert NUMBER.encode() not in bytes(row["file_enc"])
    box = bank_cipher()
    assert (
        box.decrypt(bytes(line["account_number_enc"]), context=line_context(line["reference"]))
        == NUMBER
    )

    f = await s.lc.get(f"/v1/payment-batches/{batch['id']}/file", headers=s.finance())
    assert f.status_code == 200 and NUMBER in f.text
    assert (
        hashlib.sha256(f.content).hexdigest()
        == f.headers["x-checksum-sha256"]
        == batch["file_sha256"]
    )
    assert open_file(box, row["id"], bytes(row["file_enc"])) == f.content
    assert NUMBER not in caplog.text


async def test_rows_written_before_encryption_are_migrated_and_back(make_db):
    db = await make_db("ledger")
    await asyncio.to_thread(downgrade, "ledger", db.owner_url, "ledger_0103")
    body = (
        "batch_reference,line_reference,payee_name,bank_name,account_number,amount_fen,"
        f"purpose\r\nPB1,PB1-0001,青秀区长者食堂,工行,{NUMBER},100,颐养\r\n"
    ).encode()
    batch_id, claim_id = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(db.owner_url)
    try:
        await conn.execute(
            "INSERT INTO claim (id, provider_id, period, region_codes, status, submitted_by, "
            "approved_by) VALUES ($1, 'p1', '2026-11', '{450103}', 'batched', 'a', 'b')",
            claim_id,
        )
        await conn.execute(
            "INSERT INTO payment_batch (id, reference, region_code, total_fen, line_count, "
            "file_csv, file_sha256, idempotency_key, request_hash, created_by) VALUES "
            "($1, 'PB1', '450100', 100, 1, $2, $3, 'k', '\\x00', 'f')",
            batch_id,
            body,
            hashlib.sha256(body).hexdigest(),
        )
        await conn.execute(
            "INSERT INTO payment_line (reference, batch_id, claim_id, provider_id, payee_name, "
            "bank_name, account_number, amount_fen, purpose) VALUES "
            "('PB1-0001', $1, $2, 'p1', '青秀区长者食堂', '工行', $3, 100, '颐养')",
            batch_id,
            claim_id,
            NUMBER,
        )
    finally:
        await conn.close()

    await asyncio.to_thread(upgrade, "ledger", db.owner_url)
    conn = await asyncpg.connect(db.owner_url)
    try:
        line = await conn.fetchrow("SELECT * FROM payment_line")
        row = await conn.fetchrow("SELECT * FROM payment_batch")
    finally:
        await conn.close()
    box = bank_cipher()
    assert "account_number" not in line and NUMBER not in str(dict(line))
    assert line["account_number_masked"] == "*" * 15 + "0123"
    assert (
        box.decrypt(bytes(line["account_number_enc"]), context=line_context("PB1-0001")) == NUMBER
    )
    assert NUMBER.encode() not in bytes(row["file_enc"])
    assert open_file(box, batch_id, bytes(row["file_enc"])) == body
    assert (
        hashlib.sha256(open_file(box, batch_id, bytes(row["file_enc"]))).hexdigest()
        == row["file_sha256"]
    )

    await asyncio.to_thread(downgrade, "ledger", db.owner_url, "ledger_0103")
    conn = await asyncpg.connect(db.owner_url)
    try:
        assert await conn.fetchval("SELECT account_number FROM payment_line") == NUMBER
        assert bytes(await conn.fetchval("SELECT file_csv FROM payment_batch")) == body
    finally:
        await conn.close()


def test_the_development_key_is_refused_outside_development(monkeypatch):
    import types

    import pytest

    from services.common import settings as common_settings
    from services.common.keys import ed25519_pair
    from services.ledger.config import LedgerSettings

    monkeypatch.setattr(
        common_settings, "get_common_settings", lambda: types.SimpleNamespace(env="production")
    )
    with pytest.raises(ValueError, match="pii_encryption_key"):
        LedgerSettings(database_url="postgresql://x/y")
    LedgerSettings(
        database_url="postgresql://x/y",
        pii_encryption_key="ab" * 32,
        pii_hash_key="cd" * 32,
        checkpoint_private_key=ed25519_pair()[0],  # its own key too (issue 21)
    )
