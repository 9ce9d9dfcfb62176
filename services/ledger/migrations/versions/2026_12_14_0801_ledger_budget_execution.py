"""budget execution kept as the budget moves (issue 16 part 4): `budget_execution`, the sum
of postings to budget available (3001) per account and entry kind (appropriation,
commitment, expiry), added at COMMIT by a deferred row trigger on `entry` whose WHEN clause
names only those kinds (migrations/sql/budget_execution_summary.sql), so the redemption's
posting queues nothing. The dashboard's `GET /v1/budget/execution` reads it with the
accounts' balances instead of summing postings. Filled from the existing postings.

Revision ID: ledger_0801
Revises: ledger_1102
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0801"
down_revision: str | None = "ledger_1102"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE budget_execution (
      account_id bigint NOT NULL,
      kind varchar(32) NOT NULL,
      amount_fen bigint NOT NULL,
      PRIMARY KEY (account_id, kind)
    );
    LOCK TABLE entry, posting IN SHARE MODE;
    INSERT INTO budget_execution (account_id, kind, amount_fen)
    SELECT p.account_id, e.kind, sum(p.amount_fen)
      FROM posting p JOIN entry e ON e.id = p.entry_id JOIN account a ON a.id = p.account_id
     WHERE a.code = '3001' AND e.kind IN ('appropriation', 'commitment', 'expiry')
     GROUP BY 1, 2;
    """)
    execute_sql_file("budget_execution_summary.sql")


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER IF EXISTS budget_execution_entry ON entry;
    DROP FUNCTION IF EXISTS budget_execution_add();
    DROP TABLE budget_execution;
    """)
