"""voucher.spend_region_prefix: where a voucher may be spent (program `spend_scope`)

Existing vouchers get the city of their budget region. A row inserted without a prefix
(bulk loads, fixtures) gets the same by trigger; issuance writes it from the program's
`spend_scope` and the person's region.

Revision ID: voucher_0202
Revises: voucher_0201
Create Date: 2026-11-23 20:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_0202"
down_revision: str | None = "voucher_0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMN_SQL = """
ALTER TABLE voucher ADD COLUMN spend_region_prefix varchar(6);
UPDATE voucher SET spend_region_prefix = region_spend_prefix(budget_region_code, 4);
ALTER TABLE voucher ALTER COLUMN spend_region_prefix SET NOT NULL;
ALTER TABLE voucher ADD CONSTRAINT ck_voucher_spend_region_prefix_shape
  CHECK (spend_region_prefix ~ '^[0-9]{2}([0-9]{2}){0,2}$');
"""


def upgrade() -> None:
    execute_sql_file("region_spend_prefix.sql")
    execute_script(COLUMN_SQL)
    execute_sql_file("voucher_default_spend_region.sql")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS voucher_default_spend_region ON voucher")
    op.execute("DROP FUNCTION IF EXISTS voucher_default_spend_region()")
    op.execute("ALTER TABLE voucher DROP CONSTRAINT IF EXISTS ck_voucher_spend_region_prefix_shape")
    op.execute("ALTER TABLE voucher DROP COLUMN IF EXISTS spend_region_prefix")
    op.execute("DROP FUNCTION IF EXISTS region_spend_prefix(text, integer)")
