"""a person's 特困 status (`beneficiary.tekun`) and household registration
(`beneficiary.hukou_region_code`, 户籍), attributes a programme's eligibility rule may name

Revision ID: voucher_1601
Revises: voucher_1701
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1601"
down_revision: str | None = "voucher_1701"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE beneficiary
      ADD COLUMN tekun boolean NOT NULL DEFAULT false,
      ADD COLUMN hukou_region_code varchar(12);
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE beneficiary DROP COLUMN tekun, DROP COLUMN hukou_region_code;
    """)
