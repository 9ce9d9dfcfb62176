"""voucher: baseline (empty database, owned by the voucher service)

Revision ID: voucher_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

revision: str = "voucher_0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
