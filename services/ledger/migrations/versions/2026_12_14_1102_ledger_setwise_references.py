"""posting's two per-row foreign keys become set-wise checks

Revision ID: ledger_1102
Revises: ledger_1101
Create Date: 2026-12-14

Every posted event wrote an entry and an event row, each checked by a foreign key row by row
(a lookup and a FOR KEY SHARE lock per row, the lock a second write of the row just inserted):

- `entry_book_fkey` (entry → book_head) is dropped: the chain trigger (`entry_chain_set`,
  journal_setwise_checks.sql) already locks each written book's head once per statement and
  refuses a book without one (UNKNOWN_BOOK); heads are never deleted.
- `ledger_event_entry_id_fkey` (ledger_event → entry) becomes a statement-level trigger with a
  transition table (ledger_event_checks.sql: UNKNOWN_ENTRY), as posting's references to entry
  and account already are (ledger_0120); entries are never deleted.

docs/performance.md, "Posting set-wise, many relay workers", says what it gained.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_1102"
down_revision: str | None = "ledger_1101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE entry DROP CONSTRAINT entry_book_fkey;
    ALTER TABLE ledger_event DROP CONSTRAINT ledger_event_entry_id_fkey;
    """
    )
    execute_sql_file("ledger_event_checks.sql")


def downgrade() -> None:
    execute_script(
        """
    DROP TRIGGER ledger_event_entry_exists ON ledger_event;
    DROP FUNCTION ledger_event_entry_exists();
    ALTER TABLE ledger_event ADD CONSTRAINT ledger_event_entry_id_fkey
      FOREIGN KEY (entry_id) REFERENCES entry (id);
    ALTER TABLE entry ADD CONSTRAINT entry_book_fkey FOREIGN KEY (book) REFERENCES book_head (book);
    """
    )
