"""a partitioned relay: outbox events carry their book; relay workers lease partitions

Revision ID: voucher_1701
Revises: voucher_1301
Create Date: 2026-12-13

- `outbox.book`: the ledger's book of the event (the city-level prefix of its budget region,
  `main` without one), a stored generated column, so every writer of the outbox (the
  redemption statement included) carries it without a change.
- `ix_outbox_undelivered` (id) becomes `ix_outbox_undelivered_book` (book, id): the relay
  finds the partitions with work by a skip scan and takes each one's oldest events in order.
- `relay_lease`: one row per partition: the relay worker that owns it and until when.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1701"
down_revision: str | None = "voucher_1301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE outbox ADD COLUMN book text NOT NULL GENERATED ALWAYS AS (
      CASE WHEN (payload ->> 'budget_region_code') ~ '^[0-9]{4}'
           THEN left(payload ->> 'budget_region_code', 4) ELSE 'main' END) STORED;
    DROP INDEX ix_outbox_undelivered;
    CREATE INDEX ix_outbox_undelivered_book ON outbox (book, id) WHERE delivered_at IS NULL;
    CREATE TABLE relay_lease (
      partition text NOT NULL,
      owner text,
      expires_at timestamptz NOT NULL DEFAULT '-infinity',
      taken_at timestamptz,
      CONSTRAINT pk_relay_lease PRIMARY KEY (partition)
    );
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP TABLE relay_lease;
    DROP INDEX ix_outbox_undelivered_book;
    CREATE INDEX ix_outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;
    ALTER TABLE outbox DROP COLUMN book;
    """
    )
