"""a programme of kind `service_package` (a monthly entitlement counted in home visits, e.g.
家庭养老床位): `voucher.visits_left`, counted down by the redemption statement

Revision ID: voucher_1602
Revises: voucher_1601
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1602"
down_revision: str | None = "voucher_1601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE program DROP CONSTRAINT ck_program_kind;
    ALTER TABLE program ADD CONSTRAINT ck_program_kind
      CHECK (kind IN ('voucher', 'per_use', 'cash_benefit', 'one_off', 'service_package'));
    ALTER TABLE voucher ADD COLUMN visits_left smallint;
    ALTER TABLE voucher ADD CONSTRAINT ck_voucher_visits_left_range
      CHECK (visits_left IS NULL OR visits_left >= 0);
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE voucher DROP COLUMN visits_left;
    ALTER TABLE program DROP CONSTRAINT ck_program_kind;
    ALTER TABLE program ADD CONSTRAINT ck_program_kind
      CHECK (kind IN ('voucher', 'per_use', 'cash_benefit', 'one_off'));
    """)
