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
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

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

    CREATE FUNCTION provider_bank_change_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'BANK_CHANGE_IMMUTABLE: bank account changes are never deleted'
          USING ERRCODE = 'P0001';
      END IF;
      IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'BANK_CHANGE_NOT_PENDING: this change was decided before'
          USING ERRCODE = 'P0001';
      END IF;
      IF (NEW.id, NEW.provider_id, NEW.bank_name, NEW.account_name, NEW.account_number_enc,
          NEW.account_number_masked, NEW.requested_by, NEW.requested_at)
         IS DISTINCT FROM (OLD.id, OLD.provider_id, OLD.bank_name, OLD.account_name,
          OLD.account_number_enc, OLD.account_number_masked, OLD.requested_by,
          OLD.requested_at) THEN
        RAISE EXCEPTION 'BANK_CHANGE_IMMUTABLE: a requested change keeps its account'
          USING ERRCODE = 'P0001';
      END IF;
      NEW.decided_txid := CASE WHEN NEW.status = 'approved' THEN txid_current() END;
      RETURN NEW;
    END $$;
    CREATE TRIGGER bank_account_change_guard BEFORE UPDATE OR DELETE ON bank_account_change
      FOR EACH ROW EXECUTE FUNCTION provider_bank_change_guard();

    CREATE FUNCTION provider_bank_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (NEW.bank_name, NEW.bank_account_name, NEW.bank_account_number_enc)
         IS DISTINCT FROM (OLD.bank_name, OLD.bank_account_name, OLD.bank_account_number_enc)
         AND NOT EXISTS (
           SELECT 1 FROM bank_account_change c
            WHERE c.provider_id = NEW.id AND c.status = 'approved'
              AND c.decided_txid = txid_current()
              AND c.bank_name = NEW.bank_name AND c.account_name = NEW.bank_account_name
              AND c.account_number_enc = NEW.bank_account_number_enc) THEN
        RAISE EXCEPTION 'BANK_ACCOUNT_CHANGE_UNAPPROVED: the settlement account changes only by an approved change'
          USING ERRCODE = 'P0001';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER provider_bank_account_guard BEFORE UPDATE ON provider
      FOR EACH ROW EXECUTE FUNCTION provider_bank_account_guard();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER provider_bank_account_guard ON provider;
    DROP FUNCTION provider_bank_account_guard();
    DROP TABLE bank_account_change;
    DROP FUNCTION provider_bank_change_guard();
    """)
