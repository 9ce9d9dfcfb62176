"""who unlocked a card and when (`card.unlocked_at`, `card.unlocked_by`)

Revision ID: voucher_1401
Revises: voucher_1204
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1401"
down_revision: str | None = "voucher_1204"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        "ALTER TABLE card ADD COLUMN unlocked_at timestamptz, ADD COLUMN unlocked_by text;"
    )


def downgrade() -> None:
    execute_script("ALTER TABLE card DROP COLUMN unlocked_at, DROP COLUMN unlocked_by;")
