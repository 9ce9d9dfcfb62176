"""settlement: nursing-subsidy cash benefits (2202 beneficiary payable) in payment batches

Revision ID: ledger_0103
Revises: ledger_0102
Create Date: 2026-11-23

A payment line now pays either a claim (payee the provider, 2201) or one cash benefit entry
(payee the beneficiary, 2202). A cash benefit is in at most one pending or paid line (partial
unique index), and a paid beneficiary line must be settled by an entry that debits exactly
its amount from 2202. A batch keeps the cash benefits it could not pay and why.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0103"
down_revision: str | None = "ledger_0102"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GUARD = """
    CREATE OR REPLACE FUNCTION settlement_payment_line_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'JOURNAL_IMMUTABLE: payment lines are never deleted' USING ERRCODE = 'P0001';
      END IF;
      IF (NEW.reference, NEW.batch_id, NEW.claim_id, NEW.amount_fen, NEW.account_number,
          NEW.payee_kind, NEW.cash_entry_id, NEW.beneficiary_id)
         IS DISTINCT FROM (OLD.reference, OLD.batch_id, OLD.claim_id, OLD.amount_fen,
                           OLD.account_number, OLD.payee_kind, OLD.cash_entry_id,
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

_OLD_GUARD = """
    CREATE OR REPLACE FUNCTION settlement_payment_line_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'JOURNAL_IMMUTABLE: payment lines are never deleted' USING ERRCODE = 'P0001';
      END IF;
      IF (NEW.reference, NEW.batch_id, NEW.claim_id, NEW.amount_fen, NEW.account_number)
         IS DISTINCT FROM (OLD.reference, OLD.batch_id, OLD.claim_id, OLD.amount_fen,
                           OLD.account_number)
         OR (OLD.status <> 'pending' AND NEW IS DISTINCT FROM OLD) THEN
        RAISE EXCEPTION 'DERIVED_ROW: a payment line is settled once and never changes'
          USING ERRCODE = 'P0001';
      END IF;
      IF NEW.status = 'paid' AND NOT EXISTS (
          SELECT 1 FROM posting p JOIN account a ON a.id = p.account_id
           WHERE p.entry_id = NEW.entry_id AND a.code = '2201'
          HAVING sum(p.amount_fen) = NEW.amount_fen) THEN
        RAISE EXCEPTION 'AMOUNT_MISMATCH: the payment entry does not pay the line amount'
          USING ERRCODE = 'P0001';
      END IF;
      RETURN NEW;
    END $$;
"""


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
        + _GUARD
    )


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
        + _OLD_GUARD
    )
