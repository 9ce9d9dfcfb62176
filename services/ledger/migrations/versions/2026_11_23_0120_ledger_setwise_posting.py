"""set-wise journal triggers: chain, balance and references checked once per statement

Revision ID: ledger_0120
Revises: ledger_0111
Create Date: 2026-11-23

The same invariants as ledger_0002, checked per statement instead of per row, so that a
batch of thousands of entries costs a handful of set queries (docs/performance.md, "Relay"):

- **Chain** (`entry_chain_set`, AFTER INSERT ... FOR EACH STATEMENT over the new rows): locks
  the book's head, then requires the statement's entries, in seq order, to continue the
  sequence without a gap (`CHAIN_SEQUENCE_GAP`) and the hash chain without a fork
  (`CHAIN_FORK`: each prev_hash is the hash of the entry before, the first one the head's),
  to be dated between the previous entry and now (`POSTED_AT_INVALID`), in the month of
  their date (`PERIOD_MISMATCH`) and not in a closed period (`PERIOD_CLOSED`); then it moves
  the head once, to the last of them. The first bad entry (lowest seq) is the one named. An
  entry's txid is the database's own (the column default); a statement that sets another is
  refused (`ENTRY_SEALED`) where the row trigger used to overwrite it.
- **Balanced entries** (`book_head_entries_balanced`, a DEFERRABLE INITIALLY DEFERRED
  constraint trigger on the head's UPDATE): every INSERT on entry moves the head (the chain
  trigger) and every INSERT on posting touches it (the posting trigger), and each such
  UPDATE queues a check, run at COMMIT, of all the entries of the transaction (the top of
  the chain down to the first entry of another transaction): at least two postings each
  (`ENTRY_TOO_FEW_POSTINGS`) and a zero sum per currency (`ENTRY_UNBALANCED`), the lowest bad
  seq named. Because posting inserts queue it too, a posting added after the check already
  ran (SET CONSTRAINTS ALL IMMEDIATE, then one more posting) is checked as well: under
  ledger_0002's per-entry trigger it was not, and an unbalanced entry could be committed.
- **References** of postings: the posting statement trigger, which already joined every new
  posting to its entry (sealed: same transaction, same seq, date and period), now also
  refuses a posting whose account does not exist (`UNKNOWN_ACCOUNT`), in the same pass; the
  per-row foreign keys posting -> entry and posting -> account, which checked the same
  thing one row at a time, are dropped. Entries and accounts are never deleted or re-keyed
  (JOURNAL_IMMUTABLE, DERIVED_ROW), so a reference checked at insert stays valid.

The functions are in migrations/sql/ (journal_setwise_checks.sql, ledger_posting_apply.sql).
ledger_0002's row functions (ledger_entry_chain, ledger_entry_balanced) stay defined, unused;
the downgrade puts the row triggers (journal_row_checks.sql) and the foreign keys back, and
keeps the posting function as it is (it works under the row triggers too: ledger_0002 installs
the same body).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0120"
down_revision: str | None = "ledger_0111"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
DROP TRIGGER entry_chain ON entry;
DROP TRIGGER entry_balanced ON entry;
ALTER TABLE posting DROP CONSTRAINT posting_entry_id_fkey;
ALTER TABLE posting DROP CONSTRAINT posting_account_id_fkey;
"""

DOWNGRADE = """
DROP TRIGGER book_head_entries_balanced ON book_head;
DROP TRIGGER entry_chain_set ON entry;
DROP FUNCTION ledger_entries_balanced();
DROP FUNCTION ledger_entry_chain_set();
ALTER TABLE posting ADD CONSTRAINT posting_entry_id_fkey
  FOREIGN KEY (entry_id) REFERENCES entry (id);
ALTER TABLE posting ADD CONSTRAINT posting_account_id_fkey
  FOREIGN KEY (account_id) REFERENCES account (id);
"""


def upgrade() -> None:
    execute_script(UPGRADE)
    execute_sql_file("superseded/ledger_0120_journal_setwise_checks.sql")
    execute_sql_file("superseded/ledger_0120_ledger_posting_apply.sql")


def downgrade() -> None:
    execute_script(DOWNGRADE)
    execute_sql_file("journal_row_checks.sql")
