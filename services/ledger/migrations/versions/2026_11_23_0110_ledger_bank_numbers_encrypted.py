"""settlement: bank account numbers encrypted at rest (payment_line, the stored file)

Revision ID: ledger_0110
Revises: ledger_0103
Create Date: 2026-11-23

`payment_line.account_number` (plain digits) becomes `account_number_enc` (AES-256-GCM,
PiiCipher, context `payment_line:<reference>`) plus `account_number_masked` (last four), and
`payment_batch.file_csv` (the instruction file, which holds every number) becomes `file_enc`
(context `payment_batch:<id>`). The file is decrypted to the very bytes it was, so its
SHA-256 (`file_sha256`, computed on the plain bytes) still matches. Existing rows are
encrypted here with the ledger's key (`YIYANG_LEDGER_PII_ENCRYPTION_KEY`); the append-only
and line guards are switched off for this one rewrite and on again. The line guard now
watches `account_number_enc` instead of the dropped column.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy.util import await_only

from services.common.alembic_env import execute_script

revision: str = "ledger_0110"
down_revision: str | None = "ledger_0103"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GUARD = """
    CREATE OR REPLACE FUNCTION settlement_payment_line_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'JOURNAL_IMMUTABLE: payment lines are never deleted' USING ERRCODE = 'P0001';
      END IF;
      IF (NEW.reference, NEW.batch_id, NEW.claim_id, NEW.amount_fen, NEW.{number},
          NEW.payee_kind, NEW.cash_entry_id, NEW.beneficiary_id)
         IS DISTINCT FROM (OLD.reference, OLD.batch_id, OLD.claim_id, OLD.amount_fen,
                           OLD.{number}, OLD.payee_kind, OLD.cash_entry_id,
                           OLD.beneficiary_id)
         OR (OLD.status <> 'pending' AND NEW IS DISTINCT FROM OLD) THEN
        RAISE EXCEPTION 'DERIVED_ROW: a payment line is settled once and never changes'
          USING ERRCODE = 'P0001';
      END IF;
      IF NEW.status = 'paid' AND NOT EXISTS (
          SELECT 1 FROM posting p JOIN account a ON a.id = p.account_id
           WHERE p.entry_id = NEW.entry_id
             AND a.code = CASE NEW.payee_kind WHEN 'beneficiary' THEN '2202' ELSE '2201' END
             AND (NEW.payee_kind = 'provider' OR a.beneficiary_id = NEW.beneficiary_id)
          HAVING sum(p.amount_fen) = NEW.amount_fen) THEN
        RAISE EXCEPTION 'AMOUNT_MISMATCH: the payment entry does not pay the line amount'
          USING ERRCODE = 'P0001';
      END IF;
      RETURN NEW;
    END $$;
"""

_GUARDS_OFF = """
    ALTER TABLE payment_line DISABLE TRIGGER payment_line_guard;
    ALTER TABLE payment_batch DISABLE TRIGGER payment_batch_append_only;
"""
_GUARDS_ON = """
    ALTER TABLE payment_line ENABLE TRIGGER payment_line_guard;
    ALTER TABLE payment_batch ENABLE TRIGGER payment_batch_append_only;
"""


def _cipher():
    from services.ledger.settlement.secrets import bank_cipher

    return bank_cipher()


def _raw():
    return op.get_bind().connection.driver_connection


def upgrade() -> None:
    from services.ledger.settlement.secrets import line_context, mask_number, seal_file

    execute_script(
        """
    ALTER TABLE payment_line ADD COLUMN account_number_enc bytea,
                             ADD COLUMN account_number_masked text;
    ALTER TABLE payment_batch ADD COLUMN file_enc bytea;
    """
        + _GUARDS_OFF
    )
    box, raw = _cipher(), _raw()
    for r in await_only(raw.fetch("SELECT reference, account_number FROM payment_line")):
        await_only(
            raw.execute(
                "UPDATE payment_line SET account_number_enc = $2, account_number_masked = $3 "
                "WHERE reference = $1",
                r["reference"],
                box.encrypt(r["account_number"], context=line_context(r["reference"])),
                mask_number(r["account_number"]),
            )
        )
    for r in await_only(raw.fetch("SELECT id, file_csv FROM payment_batch")):
        await_only(
            raw.execute(
                "UPDATE payment_batch SET file_enc = $2 WHERE id = $1",
                r["id"],
                seal_file(box, r["id"], bytes(r["file_csv"])),
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
        + _GUARD.format(number="account_number_enc")
    )


def downgrade() -> None:
    execute_script(
        """
    ALTER TABLE payment_line ADD COLUMN account_number text;
    ALTER TABLE payment_batch ADD COLUMN file_csv bytea;
    """
        + _GUARDS_OFF
    )
    from services.ledger.settlement.secrets import line_context, open_file

    box, raw = _cipher(), _raw()
    for r in await_only(raw.fetch("SELECT reference, account_number_enc FROM payment_line")):
        await_only(
            raw.execute(
                "UPDATE payment_line SET account_number = $2 WHERE reference = $1",
                r["reference"],
                box.decrypt(bytes(r["account_number_enc"]), context=line_context(r["reference"])),
            )
        )
    for r in await_only(raw.fetch("SELECT id, file_enc FROM payment_batch")):
        await_only(
            raw.execute(
                "UPDATE payment_batch SET file_csv = $2 WHERE id = $1",
                r["id"],
                open_file(box, r["id"], bytes(r["file_enc"])),
            )
        )
    execute_script(
        _GUARDS_ON
        + """
    ALTER TABLE payment_line ALTER COLUMN account_number SET NOT NULL,
                             DROP COLUMN account_number_enc, DROP COLUMN account_number_masked;
    ALTER TABLE payment_batch ALTER COLUMN file_csv SET NOT NULL, DROP COLUMN file_enc;
    """
        + _GUARD.format(number="account_number")
    )
