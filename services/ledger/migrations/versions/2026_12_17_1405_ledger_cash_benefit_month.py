"""a cash benefit is paid in the batch of the month it is for: its entry names that month in
`details.benefit_period` (set from the event's `period` from now on), and the payable list of
a month reads it through this partial expression index (an entry from before, without the
key, counts in the month it was posted in, as it always did). Only cash benefit entries are
in the index: a redemption's entry writes nothing to it.

Revision ID: ledger_1405
Revises: ledger_1404
Create Date: 2026-12-17
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_1405"
down_revision: str | None = "ledger_1404"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE INDEX ix_entry_cash_benefit_month
        ON entry ((coalesce(details ->> 'benefit_period', period::text)))
        WHERE kind = 'cash_benefit';
    """)


def downgrade() -> None:
    execute_script("DROP INDEX ix_entry_cash_benefit_month;")
