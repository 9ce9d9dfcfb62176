"""one-off programmes: a voucher at most once per person and programme, whatever the period

`program.kind` gains `one_off`; `voucher.once` marks a one-off programme's voucher and the
partial unique index `uq_voucher_once` makes a second one impossible, whoever writes.

Revision ID: voucher_1203
Revises: voucher_1202
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1203"
down_revision: str | None = "voucher_1202"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE program DROP CONSTRAINT ck_program_kind;
    ALTER TABLE program ADD CONSTRAINT ck_program_kind
      CHECK (kind IN ('voucher', 'per_use', 'cash_benefit', 'one_off'));
    ALTER TABLE voucher ADD COLUMN once boolean NOT NULL DEFAULT false;
    CREATE UNIQUE INDEX uq_voucher_once ON voucher (beneficiary_id, program_code) WHERE once;
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX uq_voucher_once;
    ALTER TABLE voucher DROP COLUMN once;
    ALTER TABLE program DROP CONSTRAINT ck_program_kind;
    ALTER TABLE program ADD CONSTRAINT ck_program_kind
      CHECK (kind IN ('voucher', 'per_use', 'cash_benefit'));
    """)
