"""entry: the unused date index gives way to the period one that reconciliation reads by

Revision ID: ledger_1001
Revises: ledger_0701
Create Date: 2026-12-14

- `ix_entry_posted_at` is dropped: no query reads entries by date (0 scans in every cold-path
  run, docs/performance.md "Cold paths at scale"); postings carry the date, and the trial
  balance and the snapshot job read them by the BRIN index on posting.
- `ix_entry_period_kind` (period, kind) takes its place: the reconciliation reads a period's
  redemption entries set-wise (settlement/repository/reconciliation.py
  `redemptions_of_period`), and the claims, co-payment and cash-benefit reads of a period
  filter on the same two columns; without it each is a scan of the whole journal. Entry keeps
  as many indexes as before, so posting pays nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_1001"
down_revision: str | None = "ledger_0701"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    DROP INDEX ix_entry_posted_at;
    CREATE INDEX ix_entry_period_kind ON entry (period, kind);
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP INDEX ix_entry_period_kind;
    CREATE INDEX ix_entry_posted_at ON entry (posted_at);
    """
    )
