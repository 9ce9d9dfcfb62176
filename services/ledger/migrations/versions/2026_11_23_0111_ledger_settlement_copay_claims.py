"""settlement: online co-payments are claimed with the subsidy and paid in the same line

Revision ID: ledger_0111
Revises: ledger_0110
Create Date: 2026-11-23

- `copayment_method`: how each co-payment was paid (stripe | cash) with its redemption and
  provider, recorded from the `copay.*` events before they are applied (the journal itself
  does not carry the method). Append-only.
- `claim_copay_line`: a claim's co-payment lines, one per co-payment entry (`copay_received`
  positive, `copay_refunded` negative), each entry in at most one live claim (partial unique
  index); only an online (stripe) co-payment entry of the claim's provider, for exactly what
  it posted to provider payable (trigger).
- `claim.subsidy_fen` / `claim.copay_fen`: the two parts; `total_fen = subsidy_fen +
  copay_fen` (CHECK) and each part equals its live lines (deferred constraint trigger).
The functions are in migrations/sql/ (settlement_claim_copay_line_check.sql,
settlement_claim_total_check.sql; the downgrade puts back ledger_0101's total check).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0111"
down_revision: str | None = "ledger_0110"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    CREATE TABLE copayment_method (
      copayment_id text NOT NULL,
      method text NOT NULL,
      redemption_id text NOT NULL,
      provider_id text NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      CONSTRAINT pk_copayment_method PRIMARY KEY (copayment_id),
      CONSTRAINT ck_copayment_method_method CHECK (method IN ('stripe', 'cash'))
    );
    CREATE TRIGGER copayment_method_append_only BEFORE UPDATE OR DELETE ON copayment_method
      FOR EACH ROW EXECUTE FUNCTION settlement_append_only();

    ALTER TABLE claim ADD COLUMN subsidy_fen bigint NOT NULL DEFAULT 0,
                      ADD COLUMN copay_fen bigint NOT NULL DEFAULT 0;
    UPDATE claim SET subsidy_fen = total_fen;
    SET CONSTRAINTS ALL IMMEDIATE;  -- the deferred total checks run now, before ALTER TABLE
    ALTER TABLE claim ADD CONSTRAINT ck_claim_parts CHECK (
      total_fen = subsidy_fen + copay_fen AND subsidy_fen >= 0);

    CREATE TABLE claim_copay_line (
      claim_id uuid NOT NULL REFERENCES claim (id),
      entry_id uuid NOT NULL REFERENCES entry (id),
      copayment_id text NOT NULL,
      amount_fen bigint NOT NULL,
      active boolean NOT NULL DEFAULT true,
      CONSTRAINT pk_claim_copay_line PRIMARY KEY (claim_id, entry_id),
      CONSTRAINT ck_claim_copay_line_amount CHECK (amount_fen <> 0)
    );
    CREATE UNIQUE INDEX uq_claim_copay_line_active_entry ON claim_copay_line (entry_id)
      WHERE active;
    CREATE INDEX ix_claim_copay_line_copayment ON claim_copay_line (copayment_id);
    """
    )
    execute_sql_file("settlement_claim_copay_line_check.sql")
    execute_sql_file("settlement_claim_total_check.sql")
    execute_script(
        """
    CREATE CONSTRAINT TRIGGER claim_copay_line_total_check
      AFTER INSERT OR UPDATE ON claim_copay_line
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_claim_total_check();
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP TABLE claim_copay_line;
    DROP FUNCTION settlement_claim_copay_line_check();
    ALTER TABLE claim DROP CONSTRAINT ck_claim_parts, DROP COLUMN subsidy_fen,
                      DROP COLUMN copay_fen;
    DROP TABLE copayment_method;
    """
    )
    execute_sql_file("superseded/ledger_0101_settlement_claim_total_check.sql")
