"""one index entry fewer per posted event, and the balance check in one pass

Revision ID: ledger_1403
Revises: ledger_1402
Create Date: 2026-12-16

- `uq_entry_reverses_entry_id` (each entry reversed at most once) indexed every entry, though
  only a reversal has a `reverses_entry_id`: every redemption wrote a NULL into it. It is now
  a unique index of the reversals alone (`WHERE reverses_entry_id IS NOT NULL`); uniqueness
  is the same (NULLs never conflicted), and the lookup "is this entry reversed?"
  (`reverses_entry_id = e.id`) implies the predicate, so it still uses it.
- The deferred balance check (`ledger_entries_balanced`, journal_setwise_checks.sql) joined
  the transaction's entries with their postings twice, once for entries with fewer than two
  postings and once for unbalanced ones; one pass now finds either (the one with too few
  postings first, as before). ledger_0120's body is in migrations/sql/superseded/.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_1403"
down_revision: str | None = "ledger_1402"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE entry DROP CONSTRAINT uq_entry_reverses_entry_id;
    CREATE UNIQUE INDEX uq_entry_reverses_entry_id ON entry (reverses_entry_id)
        WHERE reverses_entry_id IS NOT NULL;
    """
    )
    execute_sql_file("journal_setwise_checks.sql")


def downgrade() -> None:
    execute_sql_file("superseded/ledger_0120_journal_setwise_checks.sql")
    execute_script(
        """
    DROP INDEX uq_entry_reverses_entry_id;
    ALTER TABLE entry ADD CONSTRAINT uq_entry_reverses_entry_id UNIQUE (reverses_entry_id);
    """
    )
