"""programmes created through the API: whose programme it is (`program.region_code`)

NULL for the programmes that exist (the province's); a programme a city or county creates
with `POST /v1/programs` carries its region and applies only there.

Revision ID: voucher_1202
Revises: voucher_1201
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1202"
down_revision: str | None = "voucher_1201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("ALTER TABLE program ADD COLUMN region_code varchar(12);")


def downgrade() -> None:
    execute_script("ALTER TABLE program DROP COLUMN region_code;")
