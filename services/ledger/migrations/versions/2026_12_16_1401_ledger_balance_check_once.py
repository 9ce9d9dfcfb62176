"""the balance check runs once per batch, not twice

Revision ID: ledger_1401
Revises: ledger_1301
Create Date: 2026-12-16

The deferred balance check (`book_head_entries_balanced`, journal_setwise_checks.sql) is
queued by every UPDATE of the book's head. The entries' INSERT moves the head; the postings'
trigger touched it again, so that postings added after the check ran (SET CONSTRAINTS ...
IMMEDIATE) are checked too. The service writes a batch's entries and postings in one
statement, so every batch queued the check twice and COMMIT ran it twice over the same
entries: about a sixth of the ledger database's CPU per posted event.

The postings' trigger now queues it again only when a posting joins an entry written by an
earlier statement of the transaction (the entry's `cmin`, the command that inserted it, is
not the postings' own). An entry written in the same statement as its postings queued the
check in that statement, so the check cannot have run before those postings existed.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_sql_file

revision: str = "ledger_1401"
down_revision: str | None = "ledger_1301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_sql_file("ledger_posting_apply.sql")


def downgrade() -> None:
    execute_sql_file("superseded/ledger_1301_ledger_posting_apply.sql")
