"""provider: price-list items say how they may be billed, and the list carries its version

Each `service_item` gains `max_per_visit` (units one bill may carry, 1 by default),
`variable_price` with `max_price_fen` (an item whose price is set per bill, up to that
ceiling), `home_visit` with `min_minutes` (delivered in the elder's home: billed only against a
proven visit that lasted at least that long). `provider.price_list_version` is the directory
version at which the list last changed (the voucher service stores it with every bill it
prices); rows written before take the version of their last price-list change. Every
provider is published again (one new directory version) so a running voucher service learns
the new fields at once.

Revision ID: provider_0006
Revises: provider_0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0006"
down_revision: str | None = "provider_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE service_item
      ADD COLUMN max_per_visit smallint NOT NULL DEFAULT 1,
      ADD COLUMN variable_price boolean NOT NULL DEFAULT false,
      ADD COLUMN max_price_fen bigint,
      ADD COLUMN home_visit boolean NOT NULL DEFAULT false,
      ADD COLUMN min_minutes smallint;
    ALTER TABLE service_item
      ADD CONSTRAINT ck_service_item_max_per_visit CHECK (max_per_visit BETWEEN 1 AND 99),
      ADD CONSTRAINT ck_service_item_variable_price CHECK (
        variable_price = (max_price_fen IS NOT NULL)
        AND (max_price_fen IS NULL OR max_price_fen >= price_fen)),
      ADD CONSTRAINT ck_service_item_min_minutes CHECK (
        min_minutes IS NULL OR (home_visit AND min_minutes BETWEEN 1 AND 1440));
    ALTER TABLE provider ADD COLUMN price_list_version bigint NOT NULL DEFAULT 0;
    UPDATE provider p
       SET price_list_version = coalesce(
             (SELECT max(c.version) FROM provider_change c
               WHERE c.provider_id = p.id AND c.kind = 'price_list'), p.version);
    WITH v AS (UPDATE directory_counter SET version = version + 1, changed_at = now()
                WHERE id = 1 AND EXISTS (SELECT 1 FROM provider)
                RETURNING version)
    UPDATE provider SET version = (SELECT version FROM v)
     WHERE EXISTS (SELECT 1 FROM v);
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE provider DROP COLUMN price_list_version;
    ALTER TABLE service_item
      DROP CONSTRAINT ck_service_item_min_minutes,
      DROP CONSTRAINT ck_service_item_variable_price,
      DROP CONSTRAINT ck_service_item_max_per_visit,
      DROP COLUMN min_minutes,
      DROP COLUMN home_visit,
      DROP COLUMN max_price_fen,
      DROP COLUMN variable_price,
      DROP COLUMN max_per_visit;
    """)
