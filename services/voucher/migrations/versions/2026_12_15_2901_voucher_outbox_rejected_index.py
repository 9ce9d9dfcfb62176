"""the outbox's rejected events by a partial index: how far the relay is behind (readiness,
the relay's progress line, the benchmark's drain) counts undelivered and rejected events by
index, never scanning every event the outbox has carried. Written only when the ledger
refuses an event for good: nothing on the redemption's path.

Revision ID: voucher_2901
Revises: voucher_2101
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_2901"
down_revision: str | None = "voucher_2101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("CREATE INDEX ix_outbox_rejected ON outbox (id) WHERE rejected;")


def downgrade() -> None:
    execute_script("DROP INDEX ix_outbox_rejected;")
