"""settlement payment batches: payment_batch, payment_line, bank_confirmation

Revision ID: ledger_0102
Revises: ledger_0101
Create Date: 2026-11-23

A batch groups approved claims into payment lines and keeps the instruction file it produced
(with its SHA-256). A line is paid at most once: its payment entry carries the idempotency
key `payment:<line_reference>` (unique in entry), and the line's status moves only
pending -> paid or pending -> failed. A bank confirmation file is recorded by its SHA-256, so
the same file imported again is recognised and posts nothing. The line guard's body as this
migration installed it is in migrations/sql/superseded/ (the current one:
settlement_payment_line_guard.sql).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0102"
down_revision: str | None = "ledger_0101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE payment_batch (
      id uuid NOT NULL,
      reference text NOT NULL,
      region_code text NOT NULL,
      total_fen bigint NOT NULL,
      line_count integer NOT NULL,
      file_csv bytea NOT NULL,
      file_sha256 text NOT NULL,
      idempotency_key text NOT NULL,
      request_hash bytea NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      CONSTRAINT pk_payment_batch PRIMARY KEY (id),
      CONSTRAINT uq_payment_batch_reference UNIQUE (reference),
      CONSTRAINT uq_payment_batch_idempotency_key UNIQUE (idempotency_key),
      CONSTRAINT ck_payment_batch_total CHECK (total_fen > 0 AND line_count > 0),
      CONSTRAINT ck_payment_batch_sha CHECK (file_sha256 ~ '^[0-9a-f]{64}$')
    );

    CREATE TABLE payment_line (
      reference text NOT NULL,
      batch_id uuid NOT NULL REFERENCES payment_batch (id),
      claim_id uuid NOT NULL REFERENCES claim (id),
      provider_id text NOT NULL,
      payee_name text NOT NULL,
      bank_name text NOT NULL,
      account_number text NOT NULL,
      amount_fen bigint NOT NULL,
      purpose text NOT NULL,
      status text NOT NULL DEFAULT 'pending',
      entry_id uuid REFERENCES entry (id),
      bank_reference text,
      failure_reason text,
      settled_at timestamptz,
      CONSTRAINT pk_payment_line PRIMARY KEY (reference),
      CONSTRAINT ck_payment_line_amount CHECK (amount_fen > 0),
      CONSTRAINT ck_payment_line_status CHECK (status IN ('pending', 'paid', 'failed')),
      CONSTRAINT ck_payment_line_paid CHECK ((status = 'paid') = (entry_id IS NOT NULL)),
      CONSTRAINT uq_payment_line_entry UNIQUE (entry_id)
    );
    CREATE INDEX ix_payment_line_batch ON payment_line (batch_id);
    -- a claim is in at most one batch line that is pending or paid
    CREATE UNIQUE INDEX uq_payment_line_live_claim ON payment_line (claim_id)
      WHERE status <> 'failed';

    CREATE TABLE bank_confirmation (
      batch_id uuid NOT NULL REFERENCES payment_batch (id),
      file_sha256 text NOT NULL,
      imported_by text NOT NULL,
      imported_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      result jsonb NOT NULL,
      CONSTRAINT pk_bank_confirmation PRIMARY KEY (batch_id, file_sha256)
    );
    """)
    execute_sql_file("superseded/ledger_0102_settlement_payment_line_guard.sql")
    execute_script("""
    CREATE TRIGGER payment_line_guard BEFORE UPDATE OR DELETE ON payment_line
      FOR EACH ROW EXECUTE FUNCTION settlement_payment_line_guard();
    CREATE TRIGGER payment_batch_append_only BEFORE UPDATE OR DELETE ON payment_batch
      FOR EACH ROW EXECUTE FUNCTION settlement_append_only();
    CREATE TRIGGER bank_confirmation_append_only BEFORE UPDATE OR DELETE ON bank_confirmation
      FOR EACH ROW EXECUTE FUNCTION settlement_append_only();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE bank_confirmation;
    DROP TABLE payment_line;
    DROP TABLE payment_batch;
    DROP FUNCTION settlement_payment_line_guard();
    """)
