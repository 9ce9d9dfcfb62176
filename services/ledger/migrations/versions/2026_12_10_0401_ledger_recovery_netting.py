"""settlement: recoveries owed back by a provider are netted from its next claims

Revision ID: ledger_0401
Revises: ledger_0120
Create Date: 2026-12-10

- `claim_recovery_line`: a claim's recovery lines, one per `recovery_receivable` entry
  (a wrongly paid redemption taken back after it was claimed: docs/ledger.md,
  "Recoveries"), each entry in at most one live claim (partial unique index); only such an
  entry of the claim's provider, for exactly what it debited provider payable (trigger,
  migrations/sql/settlement_claim_recovery_line_check.sql).
- `claim.recovered_fen`: what the claim nets; `total_fen = subsidy_fen + copay_fen -
  recovered_fen` (CHECK) and each part equals its live lines (the deferred total check,
  settlement_claim_total_check.sql; ledger_0111's body is in superseded/).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0401"
down_revision: str | None = "ledger_0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE claim ADD COLUMN recovered_fen bigint NOT NULL DEFAULT 0;
    SET CONSTRAINTS ALL IMMEDIATE;
    ALTER TABLE claim DROP CONSTRAINT ck_claim_parts;
    ALTER TABLE claim ADD CONSTRAINT ck_claim_parts CHECK (
      total_fen = subsidy_fen + copay_fen - recovered_fen AND subsidy_fen >= 0
      AND recovered_fen >= 0);

    CREATE TABLE claim_recovery_line (
      claim_id uuid NOT NULL,
      entry_id uuid NOT NULL,
      redemption_id text NOT NULL,
      amount_fen bigint NOT NULL,
      active boolean NOT NULL DEFAULT true,
      CONSTRAINT pk_claim_recovery_line PRIMARY KEY (claim_id, entry_id),
      CONSTRAINT claim_recovery_line_claim_id_fkey FOREIGN KEY (claim_id) REFERENCES claim (id),
      CONSTRAINT claim_recovery_line_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES entry (id),
      CONSTRAINT ck_claim_recovery_line_amount CHECK (amount_fen > 0)
    );
    CREATE UNIQUE INDEX uq_claim_recovery_line_active_entry ON claim_recovery_line (entry_id)
      WHERE active;
    """
    )
    execute_sql_file("settlement_claim_recovery_line_check.sql")
    execute_sql_file("settlement_claim_total_check.sql")
    execute_script(
        """
    CREATE CONSTRAINT TRIGGER claim_recovery_line_total_check
      AFTER INSERT OR UPDATE ON claim_recovery_line
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_claim_total_check();
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP TABLE claim_recovery_line;
    DROP FUNCTION settlement_claim_recovery_line_check();
    ALTER TABLE claim DROP CONSTRAINT ck_claim_parts;
    ALTER TABLE claim ADD CONSTRAINT ck_claim_parts CHECK (
      total_fen = subsidy_fen + copay_fen AND subsidy_fen >= 0);
    ALTER TABLE claim DROP COLUMN recovered_fen;
    """
    )
    execute_sql_file("superseded/ledger_0111_settlement_claim_total_check.sql")
