"""region scope filters as index scans: region indexes usable by LIKE 'prefix%'

Revision ID: ledger_0003
Revises: ledger_0002
Create Date: 2026-11-23

Region scope is a prefix of the region code (`region_code LIKE '4501%'`). Under a non-C
collation a plain btree index cannot serve a LIKE prefix; text_pattern_ops can.
"""
from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0003"
down_revision: str | None = "ledger_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    DROP INDEX ix_posting_region_seq;
    CREATE INDEX ix_posting_region_seq ON posting (region_code text_pattern_ops, seq);
    CREATE INDEX ix_posting_region_posted_at ON posting (region_code text_pattern_ops, posted_at);
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX ix_posting_region_posted_at;
    DROP INDEX ix_posting_region_seq;
    CREATE INDEX ix_posting_region_seq ON posting (region_code, seq);
    """)
