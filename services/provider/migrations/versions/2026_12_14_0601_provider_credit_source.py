"""a credit event may name its source (`source_ref`, e.g. `alert:<id>` from a confirmed alert):
an event with the same source is recorded once per provider (partial unique index), so the
voucher service retrying a confirmation never counts a violation twice.

Revision ID: provider_0601
Revises: provider_0401
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0601"
down_revision: str | None = "provider_0401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE credit_event ADD COLUMN source_ref text;
    CREATE UNIQUE INDEX uq_credit_event_source
        ON credit_event (provider_id, source_ref) WHERE source_ref IS NOT NULL;
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX uq_credit_event_source;
    ALTER TABLE credit_event DROP COLUMN source_ref;
    """)
