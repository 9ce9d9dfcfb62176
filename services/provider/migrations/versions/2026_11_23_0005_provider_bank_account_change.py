"""provider: a settlement bank account change waits for an officer's approval

Revision ID: provider_0005
Revises: provider_0004
Create Date: 2026-11-23

A provider admin's new bank account is a `bank_account_change` row, `pending` until a
civil-affairs officer of the provider's region approves or rejects it; the provider row (what
the ledger's payment files use) keeps the last approved account until then. The database
holds:
- at most one pending change per provider (partial unique index);
- the decider is never the requester (CHECK), and a change is decided once: pending ->
  approved | rejected | superseded, nothing else, and a decided row never changes (trigger);
  rows are never deleted, so the table is the account's history;
- the provider's bank columns change only in the transaction that approved a change with
  exactly that account (trigger on provider, `BANK_ACCOUNT_CHANGE_UNAPPROVED`).
The trigger bodies are in migrations/sql/ (bank_account_change_guard.sql,
provider_bank_account_guard.sql).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "provider_0005"
down_revision: str | None = "provider_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE bank_account_change (
      id uuid NOT NULL,
      provider_id uuid NOT NULL,
      bank_name text NOT NULL,
      account_name text NOT NULL,
      account_number_enc bytea NOT NULL,
      account_number_masked varchar(40) NOT NULL,
      status varchar(12) NOT NULL DEFAULT 'pending',
      requested_by text NOT NULL,
      requested_at timestamptz NOT NULL DEFAULT now(),
      decided_by text,
      decided_at timestamptz,
      reason text,
      decided_txid bigint,
      CONSTRAINT pk_bank_account_change PRIMARY KEY (id),
      CONSTRAINT fk_bank_account_change_provider_id_provider FOREIGN KEY (provider_id)
        REFERENCES provider (id),
      CONSTRAINT ck_bank_account_change_status CHECK (status IN
        ('pending', 'approved', 'rejected', 'superseded')),
      CONSTRAINT ck_bank_account_change_maker_checker CHECK (
        decided_by IS NULL OR decided_by <> requested_by),
      CONSTRAINT ck_bank_account_change_decided CHECK (
        (status IN ('approved', 'rejected')) = (decided_by IS NOT NULL)
        AND (status = 'pending') = (decided_at IS NULL))
    );
    CREATE INDEX ix_bank_account_change_provider_id ON bank_account_change (provider_id);
    CREATE UNIQUE INDEX uq_bank_account_change_pending ON bank_account_change (provider_id)
      WHERE status = 'pending';
    """)
    execute_sql_file("bank_account_change_guard.sql")
    execute_sql_file("provider_bank_account_guard.sql")


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER provider_bank_account_guard ON provider;
    DROP FUNCTION provider_bank_account_guard();
    DROP TABLE bank_account_change;
    DROP FUNCTION provider_bank_change_guard();
    """)
