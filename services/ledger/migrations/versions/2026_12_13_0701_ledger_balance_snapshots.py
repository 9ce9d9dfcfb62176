"""ledger period balance snapshots; posting's indexes trimmed to what the audit queries use

Revision ID: ledger_0701
Revises: ledger_0601
Create Date: 2026-12-13

- `balance_snapshot`: balances at an instant `until`: every (account, posting region; the
  trial balance counts only postings with a region) with its debit, credit and balance over
  all postings dated before it (service/snapshots.py: the period close writes one at the
  period's end, the snapshot job one at the start of each day). The trial balance as of a date is the last snapshot
  before it plus the postings since (repository/audit.py `trial_balance`): it no longer scans
  the journal. Append-only like the journal.
- posting's indexes, measured on a 2M-entry journal (docs/performance.md "Cold paths"):
  `ix_posting_program_seq` (a program matches most postings: the (seq, book) index with a
  filter answers as fast), `ix_posting_region_posted_at` (only the scanning trial balance
  used it) are dropped; the btree `ix_posting_posted_at` becomes a BRIN index
  `ix_posting_posted_at_brin` (posting is append-only and written in date order: the block
  ranges serve "postings since the snapshot" for a few kB instead of a btree entry a row).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0701"
down_revision: str | None = "ledger_0601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    CREATE TABLE balance_snapshot (
      until timestamptz NOT NULL,
      account_id bigint NOT NULL,
      region_code varchar(12) NOT NULL,
      debit_fen bigint NOT NULL,
      credit_fen bigint NOT NULL,
      balance_fen bigint NOT NULL,
      CONSTRAINT pk_balance_snapshot PRIMARY KEY (until, account_id, region_code),
      CONSTRAINT ck_balance_snapshot_totals CHECK (balance_fen = debit_fen - credit_fen)
    );
    DROP INDEX ix_posting_program_seq;
    DROP INDEX ix_posting_region_posted_at;
    DROP INDEX ix_posting_posted_at;
    CREATE INDEX ix_posting_posted_at_brin ON posting USING brin (posted_at);
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP INDEX ix_posting_posted_at_brin;
    CREATE INDEX ix_posting_posted_at ON posting (posted_at);
    CREATE INDEX ix_posting_region_posted_at ON posting (region_code text_pattern_ops, posted_at);
    CREATE INDEX ix_posting_program_seq ON posting (program_code, seq);
    DROP TABLE balance_snapshot;
    """
    )
