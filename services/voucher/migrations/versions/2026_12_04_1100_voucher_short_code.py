"""short numeric payment codes: `short_code` (hash of the digits -> the token they stand
for, until it expires) and `short_code_guard` (wrong codes per provider and window)

Revision ID: voucher_1100
Revises: voucher_0601
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1100"
down_revision: str | None = "voucher_0601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE short_code (
      code_hash bytea NOT NULL,
      token text NOT NULL,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pk_short_code PRIMARY KEY (code_hash),
      CONSTRAINT ck_short_code_length CHECK (octet_length(code_hash) = 32)
    );
    CREATE INDEX ix_short_code_expires_at ON short_code (expires_at);
    CREATE TABLE short_code_guard (
      provider_id varchar(64) NOT NULL,
      window_start timestamptz NOT NULL,
      failures integer NOT NULL,
      CONSTRAINT pk_short_code_guard PRIMARY KEY (provider_id),
      CONSTRAINT ck_short_code_guard_failures CHECK (failures >= 0)
    );
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE short_code_guard;
    DROP TABLE short_code;
    """)
