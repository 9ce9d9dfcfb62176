"""a programme version may take effect from a future period (`program_version.effective_from`)

Revision ID: voucher_1204
Revises: voucher_1203
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1204"
down_revision: str | None = "voucher_1203"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("ALTER TABLE program_version ADD COLUMN effective_from varchar(7);")


def downgrade() -> None:
    execute_script("ALTER TABLE program_version DROP COLUMN effective_from;")
