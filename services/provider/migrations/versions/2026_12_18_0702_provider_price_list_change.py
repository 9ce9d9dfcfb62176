"""a price list that raises what public money pays waits for an officer: `price_list_change`
keeps each such list asked by a provider's admin (pending, then approved, rejected or
superseded by a newer one), with the codes it raises; one pending a provider. Lists that
raise nothing still replace the price list at once (service/price_review.py).

Revision ID: provider_0702
Revises: provider_0701
Create Date: 2026-12-18
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0702"
down_revision: str | None = "provider_0701"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE price_list_change (
      id uuid NOT NULL,
      provider_id uuid NOT NULL,
      services jsonb NOT NULL,
      raises jsonb NOT NULL,
      status varchar(12) NOT NULL DEFAULT 'pending',
      requested_by text NOT NULL,
      requested_at timestamptz NOT NULL DEFAULT now(),
      decided_by text,
      decided_at timestamptz,
      reason text,
      CONSTRAINT pk_price_list_change PRIMARY KEY (id),
      CONSTRAINT fk_price_list_change_provider_id_provider FOREIGN KEY (provider_id)
        REFERENCES provider (id),
      CONSTRAINT ck_price_list_change_status CHECK (status IN
        ('pending', 'approved', 'rejected', 'superseded')),
      CONSTRAINT ck_price_list_change_maker_checker CHECK (
        decided_by IS NULL OR decided_by <> requested_by),
      CONSTRAINT ck_price_list_change_decided CHECK (
        (status IN ('approved', 'rejected')) = (decided_by IS NOT NULL)
        AND (status = 'pending') = (decided_at IS NULL))
    );
    CREATE INDEX ix_price_list_change_provider_id ON price_list_change (provider_id);
    CREATE UNIQUE INDEX uq_price_list_change_pending
        ON price_list_change (provider_id) WHERE status = 'pending';
    """)


def downgrade() -> None:
    execute_script("DROP TABLE price_list_change;")
