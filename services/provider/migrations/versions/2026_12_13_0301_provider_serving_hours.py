"""provider: price-list items carry their serving hours (a meal's 供应时间)

`service_item` gains `serves_from` and `serves_until` (time of day, Beijing time; both or
neither, from before until): the elder's "nearby" page lists each provider's meals with their
times and prices (the nearby search reads them; the voucher service's directory does not need
them, so no provider is published again).

Revision ID: provider_0301
Revises: provider_0201
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0301"
down_revision: str | None = "provider_0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE service_item
      ADD COLUMN serves_from time without time zone,
      ADD COLUMN serves_until time without time zone;
    ALTER TABLE service_item
      ADD CONSTRAINT ck_service_item_serving_hours CHECK (
        (serves_from IS NULL) = (serves_until IS NULL)
        AND (serves_from IS NULL OR serves_from < serves_until));
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE service_item
      DROP CONSTRAINT ck_service_item_serving_hours,
      DROP COLUMN serves_until,
      DROP COLUMN serves_from;
    """)
