"""settlement: nursing-subsidy cash benefits (2202 beneficiary payable) in payment batches

Revision ID: ledger_0103
Revises: ledger_0102
Create Date: 2026-11-23

A payment line now pays either a claim (payee the provider, 2201) or one cash benefit entry
(payee the beneficiary, 2202). A cash benefit is in at most one pending or paid line (partial
unique index), and a paid beneficiary line must be settled by an entry that debits exactly
its amount from 2202. A batch keeps the cash benefits it could not pay and why. The line guard's
bodies before and after are in migrations/sql/superseded/.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0103"
down_revision: str | None = "ledger_0102"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE payment_line
      ADD COLUMN payee_kind text NOT NULL DEFAULT 'provider',
      ADD COLUMN cash_entry_id uuid REFERENCES entry (id),
      ADD COLUMN beneficiary_id text,
      ALTER COLUMN claim_id DROP NOT NULL,
      ALTER COLUMN provider_id DROP NOT NULL,
      ADD CONSTRAINT ck_payment_line_payee_kind CHECK (payee_kind IN ('provider', 'beneficiary')),
      ADD CONSTRAINT ck_payment_line_payee CHECK (
        (payee_kind = 'provider' AND claim_id IS NOT NULL AND provider_id IS NOT NULL
         AND cash_entry_id IS NULL AND beneficiary_id IS NULL)
        OR (payee_kind = 'beneficiary' AND claim_id IS NULL AND provider_id IS NULL
            AND cash_entry_id IS NOT NULL AND beneficiary_id IS NOT NULL));
    -- a cash benefit is in at most one batch line that is pending or paid
    CREATE UNIQUE INDEX uq_payment_line_live_cash_benefit ON payment_line (cash_entry_id)
      WHERE status <> 'failed' AND cash_entry_id IS NOT NULL;
    ALTER TABLE payment_batch ADD COLUMN not_payable jsonb NOT NULL DEFAULT '[]'::jsonb;
    """
    )
    execute_sql_file("superseded/ledger_0103_settlement_payment_line_guard.sql")


def downgrade() -> None:
    execute_script(
        """
    ALTER TABLE payment_batch DROP COLUMN not_payable;
    DROP INDEX uq_payment_line_live_cash_benefit;
    ALTER TABLE payment_line
      DROP CONSTRAINT ck_payment_line_payee,
      DROP CONSTRAINT ck_payment_line_payee_kind,
      DROP COLUMN beneficiary_id,
      DROP COLUMN cash_entry_id,
      DROP COLUMN payee_kind,
      ALTER COLUMN claim_id SET NOT NULL,
      ALTER COLUMN provider_id SET NOT NULL;
    """
    )
    execute_sql_file("superseded/ledger_0102_settlement_payment_line_guard.sql")
