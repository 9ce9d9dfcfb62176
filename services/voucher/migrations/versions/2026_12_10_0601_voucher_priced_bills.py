"""redemption: the bill priced from the provider's price list (its lines and the list's version)

`redemption_item` holds each line of a redemption's bill (service, category, quantity, unit
price, amount = unit price x quantity), written by the redemption statement with the
redemption and never changed (append-only: the app role has SELECT and INSERT).
`redemption.price_list_version` is the directory version of the price list the bill was
priced from (NULL for redemptions made before). The guard trigger now also keeps a
redemption's service, category and price-list version as they were written (its previous
body, which migration voucher_0201 installed, is in migrations/sql/superseded/).

Revision ID: voucher_0601
Revises: voucher_0501
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_0601"
down_revision: str | None = "voucher_0501"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE redemption ADD COLUMN price_list_version bigint;
    CREATE TABLE redemption_item (
      redemption_id uuid NOT NULL,
      line smallint NOT NULL,
      service_code text NOT NULL,
      category text NOT NULL,
      quantity smallint NOT NULL,
      unit_price_fen bigint NOT NULL,
      amount_fen bigint NOT NULL,
      CONSTRAINT pk_redemption_item PRIMARY KEY (redemption_id, line),
      CONSTRAINT redemption_item_redemption_id_fkey FOREIGN KEY (redemption_id)
        REFERENCES redemption (id),
      CONSTRAINT ck_redemption_item_amounts CHECK (line >= 1 AND quantity >= 1
        AND unit_price_fen > 0 AND amount_fen = unit_price_fen * quantity)
    );
    """)
    execute_sql_file("redemption_guard.sql")


def downgrade() -> None:
    execute_sql_file("superseded/voucher_0201_redemption_guard.sql")
    execute_script("""
    DROP TABLE redemption_item;
    ALTER TABLE redemption DROP COLUMN price_list_version;
    """)
