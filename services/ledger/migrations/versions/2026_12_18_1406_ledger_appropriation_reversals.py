"""an appropriation reversed is netted from what was appropriated: `budget_execution` now
keeps the postings of `reversal` entries to budget available (3001) too (the trigger's WHEN
clause names the kind; migrations/sql/budget_execution_summary.sql), and is filled here
from the reversals already written. Before, a reversed appropriation was still counted in
`appropriated_fen` (GET /v1/budget, /v1/budget/execution, the dashboard) while available
went back down, so appropriated - committed + released no longer gave available.

Revision ID: ledger_1406
Revises: ledger_1405
Create Date: 2026-12-18
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_1406"
down_revision: str | None = "ledger_1405"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (the lock first: no reversal commits between the sum and the new trigger)
    execute_script("LOCK TABLE entry, posting IN SHARE MODE;")
    execute_sql_file("budget_execution_summary.sql")
    execute_script("""
    INSERT INTO budget_execution AS s (account_id, kind, amount_fen)
    SELECT p.account_id, 'reversal', sum(p.amount_fen)
      FROM posting p JOIN entry e ON e.id = p.entry_id JOIN account a ON a.id = p.account_id
     WHERE a.code = '3001' AND e.kind = 'reversal'
     GROUP BY 1
    ON CONFLICT (account_id, kind) DO UPDATE SET amount_fen = EXCLUDED.amount_fen;
    """)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER IF EXISTS budget_execution_entry ON entry;
    CREATE CONSTRAINT TRIGGER budget_execution_entry AFTER INSERT ON entry
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
      WHEN (NEW.kind IN ('appropriation', 'commitment', 'expiry'))
      EXECUTE FUNCTION budget_execution_add();
    DELETE FROM budget_execution WHERE kind = 'reversal';
    """)
