"""the indexes written per posted event trimmed to those the audit targets need

Revision ID: ledger_1301
Revises: ledger_0801
Create Date: 2026-12-15

Every posting paid for ten indexes (its key, nine secondary ones); a redemption writes
several postings and one entry, so an index on posting costs a redemption several inserts,
one on entry one (docs/performance.md "Indexes written per redemption").

- `ix_posting_provider_seq`, `ix_posting_beneficiary_seq`, `ix_posting_voucher_seq` are
  dropped; `ix_entry_provider_seq`, `ix_entry_beneficiary_seq`, `ix_entry_voucher_seq`
  (dimension, seq, book; partial, like the ones they replace) take their place: every posting
  of an entry carries the entry's provider, beneficiary and voucher (an account's own
  provider or beneficiary is the entry's: service/plans.py), so the entries by one of them
  are the entries whose row says so, read in (seq, book) order and their other filters
  checked on their postings by the posting key (repository/audit.py). The posting trigger
  now refuses a posting that does not repeat them (ENTRY_SEALED, like the book, seq, date
  and period it already checks: ledger_posting_apply.sql, the same per-statement join), so
  the two can never disagree.
- `ix_posting_account_posted_at` is dropped: a statement's window and opening balance read
  the account's postings by `ix_posting_account_seq` (each book's seqs rise with its dates)
  and keep them by date; the opening balance reads the account's history before the window
  with either index.
- `ix_posting_region_seq` is dropped: only the pages filtered by region alone used it (the
  trial balance stopped in ledger_1001's work); they read `ix_posting_seq_book` in order and
  keep the region's postings (a city is a book's worth of the journal).
- `ix_ledger_event_received_at` (a btree, one row an event) becomes a BRIN index: the
  metrics' delivery lag reads the last events received, and events arrive in order, so the
  block ranges of the last minute (hour, day, ...) hold them (repository/audit.py
  `event_lag`).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_1301"
down_revision: str | None = "ledger_0801"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    CREATE INDEX ix_entry_provider_seq ON entry (provider_id, seq, book)
        WHERE provider_id IS NOT NULL;
    CREATE INDEX ix_entry_beneficiary_seq ON entry (beneficiary_id, seq, book)
        WHERE beneficiary_id IS NOT NULL;
    CREATE INDEX ix_entry_voucher_seq ON entry (voucher_id, seq, book)
        WHERE voucher_id IS NOT NULL;
    DROP INDEX ix_posting_provider_seq;
    DROP INDEX ix_posting_beneficiary_seq;
    DROP INDEX ix_posting_voucher_seq;
    DROP INDEX ix_posting_account_posted_at;
    DROP INDEX ix_posting_region_seq;
    DROP INDEX ix_ledger_event_received_at;
    CREATE INDEX ix_ledger_event_received_at_brin ON ledger_event USING brin (received_at);
    """
    )
    execute_sql_file("superseded/ledger_1301_ledger_posting_apply.sql")


def downgrade() -> None:
    execute_script(
        """
    DROP INDEX ix_ledger_event_received_at_brin;
    CREATE INDEX ix_ledger_event_received_at ON ledger_event (received_at);
    CREATE INDEX ix_posting_region_seq ON posting (region_code text_pattern_ops, seq);
    CREATE INDEX ix_posting_account_posted_at ON posting (account_id, posted_at);
    CREATE INDEX ix_posting_voucher_seq ON posting (voucher_id, seq)
        WHERE voucher_id IS NOT NULL;
    CREATE INDEX ix_posting_beneficiary_seq ON posting (beneficiary_id, seq)
        WHERE beneficiary_id IS NOT NULL;
    CREATE INDEX ix_posting_provider_seq ON posting (provider_id, seq)
        WHERE provider_id IS NOT NULL;
    DROP INDEX ix_entry_voucher_seq;
    DROP INDEX ix_entry_beneficiary_seq;
    DROP INDEX ix_entry_provider_seq;
    """
    )
    execute_sql_file("superseded/ledger_1101_ledger_posting_apply.sql")
