"""settlement claims: claim, claim_line, claim_action (maker-checker in the database)

Revision ID: ledger_0101
Revises: ledger_0003
Create Date: 2026-11-23

A claim lists a provider's posted, unvoided redemptions of a period. The database keeps:
- each redemption in at most one claim that is not abandoned (partial unique index);
- a line only for a redemption entry of the claim's provider that is not reversed;
- the claim's total equal to the sum of its lines (deferred constraint trigger, at COMMIT);
- maker-checker: the approver is never the submitter (CHECK), and the status moves only
  along the allowed transitions (trigger);
- the history (claim_action) append-only.
The functions are in migrations/sql/ (settlement_claim_*.sql, settlement_append_only.sql; the
total check as it was before co-payment lines in superseded/).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0101"
down_revision: str | None = "ledger_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE claim (
      id uuid NOT NULL,
      provider_id text NOT NULL,
      period text NOT NULL,
      region_codes text[] NOT NULL,
      status text NOT NULL,
      total_fen bigint NOT NULL DEFAULT 0,
      line_count integer NOT NULL DEFAULT 0,
      idempotency_key text,
      request_hash bytea,
      submitted_by text NOT NULL,
      submitted_at timestamptz,
      approved_by text,
      approved_at timestamptz,
      rejected_by text,
      rejected_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      CONSTRAINT pk_claim PRIMARY KEY (id),
      CONSTRAINT uq_claim_idempotency_key UNIQUE (idempotency_key),
      CONSTRAINT ck_claim_period CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
      CONSTRAINT ck_claim_status CHECK (status IN
        ('pending', 'submitted', 'rejected', 'approved', 'abandoned', 'batched', 'paid')),
      CONSTRAINT ck_claim_total CHECK (total_fen >= 0 AND line_count >= 0),
      CONSTRAINT ck_claim_maker_checker CHECK (approved_by IS NULL OR approved_by <> submitted_by),
      CONSTRAINT ck_claim_approved CHECK (
        (status IN ('approved', 'batched', 'paid')) = (approved_by IS NOT NULL))
    );
    CREATE INDEX ix_claim_provider_period ON claim (provider_id, period);
    CREATE INDEX ix_claim_status ON claim (status);

    CREATE TABLE claim_line (
      claim_id uuid NOT NULL REFERENCES claim (id),
      redemption_id text NOT NULL,
      entry_id uuid NOT NULL REFERENCES entry (id),
      amount_fen bigint NOT NULL,
      active boolean NOT NULL DEFAULT true,
      CONSTRAINT pk_claim_line PRIMARY KEY (claim_id, redemption_id),
      CONSTRAINT ck_claim_line_amount CHECK (amount_fen > 0)
    );
    CREATE UNIQUE INDEX uq_claim_line_active_redemption ON claim_line (redemption_id)
      WHERE active;

    CREATE TABLE claim_action (
      id bigserial NOT NULL,
      claim_id uuid NOT NULL REFERENCES claim (id),
      action text NOT NULL,
      actor text NOT NULL,
      role text NOT NULL,
      comment text,
      reasons jsonb,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      CONSTRAINT pk_claim_action PRIMARY KEY (id),
      CONSTRAINT ck_claim_action_action CHECK (action IN
        ('prepare', 'submit', 'resubmit', 'edit', 'approve', 'reject', 'abandon', 'batch', 'pay'))
    );
    CREATE INDEX ix_claim_action_claim ON claim_action (claim_id, id);
    """)
    execute_sql_file("settlement_claim_line_check.sql")
    execute_sql_file("superseded/ledger_0101_settlement_claim_total_check.sql")
    execute_sql_file("settlement_claim_transition.sql")
    execute_sql_file("settlement_append_only.sql")
    execute_script("""
    CREATE CONSTRAINT TRIGGER claim_total_check AFTER INSERT OR UPDATE ON claim
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_claim_total_check();
    CREATE CONSTRAINT TRIGGER claim_line_total_check AFTER INSERT OR UPDATE OR DELETE ON claim_line
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_claim_total_check();
    CREATE TRIGGER claim_action_append_only BEFORE UPDATE OR DELETE ON claim_action
      FOR EACH ROW EXECUTE FUNCTION settlement_append_only();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE claim_action;
    DROP TABLE claim_line;
    DROP TABLE claim;
    DROP FUNCTION settlement_append_only();
    DROP FUNCTION settlement_claim_transition();
    DROP FUNCTION settlement_claim_total_check();
    DROP FUNCTION settlement_claim_line_check();
    """)
