"""settlement: bank account numbers encrypted at rest (payment_line, the stored file)

Revision ID: ledger_0110
Revises: ledger_0103
Create Date: 2026-11-23

`payment_line.account_number` (plain digits) becomes `account_number_enc` (AES-256-GCM,
PiiCipher, context `payment_line:<reference>`) plus `account_number_masked` (last four), and
`payment_batch.file_csv` (the instruction file, which holds every number) becomes `file_enc`
(context `payment_batch:<id>`). The file is decrypted to the very bytes it was, so its
SHA-256 (`file_sha256`, computed on the plain bytes) still matches. Existing rows are
encrypted here with the ledger's key, and decrypted again by the downgrade; the append-only
and line guards are switched off for this one rewrite and on again. The line guard now
watches `account_number_enc` instead of the dropped column (migrations/sql/).

The key is the setting `YIYANG_LEDGER_PII_ENCRYPTION_KEY` (hex, 32 bytes), read from the
environment of the migration (infra/env/migrate.env.example), the same value the service uses.
Unset, the development key is used in development and test (`YIYANG_ENV`, default
development) and the migration refuses to run elsewhere; it refuses the development key and
the placeholder outside development and test too. The key is only read when there are rows to
rewrite.

This migration is a frozen snapshot: the little crypto it needs (what
services.common.crypto.PiiCipher and services.ledger.settlement.secrets did when it was
written: AES-256-GCM, a random 12-byte nonce before the ciphertext, the row's context as
associated data) is copied here, so a later change to the application cannot change what it
does to stored rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from alembic import op
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.util import await_only

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0110"
down_revision: str | None = "ledger_0103"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_SETTING = "YIYANG_LEDGER_PII_ENCRYPTION_KEY"
# services.common.dev_keys.DEV_PII_ENCRYPTION_KEY when this migration was written (public).
_DEV_KEY = "dc72d0df64c7fef57e539a3db1c20b590a1d49040b2a559d4169d74f5fa21a77"
_PLACEHOLDER = "CHANGE_ME"

_GUARDS_OFF = """
    ALTER TABLE payment_line DISABLE TRIGGER payment_line_guard;
    ALTER TABLE payment_batch DISABLE TRIGGER payment_batch_append_only;
"""
_GUARDS_ON = """
    ALTER TABLE payment_line ENABLE TRIGGER payment_line_guard;
    ALTER TABLE payment_batch ENABLE TRIGGER payment_batch_append_only;
"""


class _Box:
    """AES-256-GCM as the ledger stores bank numbers: nonce (12 bytes) + ciphertext + tag,
    bound to its row by the associated data."""

    def __init__(self, key_hex: str) -> None:
        self._aead = AESGCM(bytes.fromhex(key_hex))

    def seal(self, plain: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plain, context)

    def open(self, blob: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], context)


def _box() -> _Box:
    env = os.environ.get("YIYANG_ENV", "development")
    key = os.environ.get(KEY_SETTING)
    relaxed = env in ("development", "test")
    if key is None and relaxed:
        key = _DEV_KEY
    if key is None or (not relaxed and key in (_DEV_KEY, _PLACEHOLDER)):
        raise RuntimeError(
            f"ledger_0110 encrypts the bank account numbers already stored: set {KEY_SETTING} "
            f"(the ledger's key) in the migration's environment ({env})"
        )
    return _Box(key)


def _line_context(reference: str) -> bytes:
    return f"payment_line:{reference}".encode()


def _batch_context(batch_id: Any) -> bytes:
    return f"payment_batch:{batch_id}".encode()


def _mask(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def _utf8(body: bytes) -> bytes:
    """The instruction file is UTF-8 text, sealed as text (one that is not is refused)."""
    return body.decode("utf-8").encode("utf-8")


def _raw():
    return op.get_bind().connection.driver_connection


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE payment_line ADD COLUMN account_number_enc bytea,
                             ADD COLUMN account_number_masked text;
    ALTER TABLE payment_batch ADD COLUMN file_enc bytea;
    """
        + _GUARDS_OFF
    )
    raw = _raw()
    lines = await_only(raw.fetch("SELECT reference, account_number FROM payment_line"))
    batches = await_only(raw.fetch("SELECT id, file_csv FROM payment_batch"))
    if lines or batches:  # the key is needed only for rows to rewrite
        box = _box()
        for r in lines:
            await_only(
                raw.execute(
                    "UPDATE payment_line SET account_number_enc = $2, account_number_masked = $3 "
                    "WHERE reference = $1",
                    r["reference"],
                    box.seal(r["account_number"].encode(), _line_context(r["reference"])),
                    _mask(r["account_number"]),
                )
            )
        for r in batches:
            await_only(
                raw.execute(
                    "UPDATE payment_batch SET file_enc = $2 WHERE id = $1",
                    r["id"],
                    box.seal(_utf8(bytes(r["file_csv"])), _batch_context(r["id"])),
                )
            )
    execute_script(
        _GUARDS_ON
        + """
    ALTER TABLE payment_line ALTER COLUMN account_number_enc SET NOT NULL,
                             ALTER COLUMN account_number_masked SET NOT NULL,
                             DROP COLUMN account_number;
    ALTER TABLE payment_batch ALTER COLUMN file_enc SET NOT NULL, DROP COLUMN file_csv;
    """
    )
    execute_sql_file("settlement_payment_line_guard.sql")


def downgrade() -> None:
    execute_script(
        """
    ALTER TABLE payment_line ADD COLUMN account_number text;
    ALTER TABLE payment_batch ADD COLUMN file_csv bytea;
    """
        + _GUARDS_OFF
    )
    raw = _raw()
    lines = await_only(raw.fetch("SELECT reference, account_number_enc FROM payment_line"))
    batches = await_only(raw.fetch("SELECT id, file_enc FROM payment_batch"))
    if lines or batches:  # the key is needed only for rows to rewrite
        box = _box()
        for r in lines:
            await_only(
                raw.execute(
                    "UPDATE payment_line SET account_number = $2 WHERE reference = $1",
                    r["reference"],
                    box.open(
                        bytes(r["account_number_enc"]), _line_context(r["reference"])
                    ).decode(),
                )
            )
        for r in batches:
            await_only(
                raw.execute(
                    "UPDATE payment_batch SET file_csv = $2 WHERE id = $1",
                    r["id"],
                    box.open(bytes(r["file_enc"]), _batch_context(r["id"])),
                )
            )
    execute_script(
        _GUARDS_ON
        + """
    ALTER TABLE payment_line ALTER COLUMN account_number SET NOT NULL,
                             DROP COLUMN account_number_enc, DROP COLUMN account_number_masked;
    ALTER TABLE payment_batch ALTER COLUMN file_csv SET NOT NULL, DROP COLUMN file_enc;
    """
    )
    execute_sql_file("superseded/ledger_0103_settlement_payment_line_guard.sql")
