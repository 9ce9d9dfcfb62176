"""the redemption's hot path: three foreign keys the statement already guarantees

Revision ID: voucher_1901
Revises: voucher_1602
Create Date: 2026-12-13

Measured with pgbench on the redemption statement (docs/performance.md, "The hot path at a
third of the limit"):

- `redemption_voucher_id_fkey`, `redemption_beneficiary_id_fkey`: dropped. The redemption
  statement (REDEEM) is the only writer of `redemption` and takes both ids from the voucher
  row it has just locked FOR UPDATE and updated in the same statement (and
  `voucher.beneficiary_id` has its own key), so the keys' lookups and row locks re-checked
  what the statement already holds. A delete of a voucher or a person that a redemption
  names is still refused, by the trigger `redemption_parent_kept`
  (migrations/sql/superseded/voucher_1901_redemption_parents_kept.sql; now
  migrations/sql/redemption_parents_kept.sql, voucher_2301).
- `redemption_item_redemption_id_fkey`: dropped. REDEEM writes the lines in the same
  statement as their redemption, from the same row, and a redemption is never deleted
  (trigger `redemption_guard`); `redemption_item` is append-only for the service's role.

Tried and left out (measured, no gain): `voucher` fillfactor 80 for HOT updates -- the
redemption's update is already HOT for 97.7% of rows on the benchmark's data (99.9% with
the fillfactor), and neither tps nor CPU per redemption moved beyond the noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_1901"
down_revision: str | None = "voucher_1602"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE redemption DROP CONSTRAINT redemption_voucher_id_fkey,
                           DROP CONSTRAINT redemption_beneficiary_id_fkey;
    ALTER TABLE redemption_item DROP CONSTRAINT redemption_item_redemption_id_fkey;
    """
    )
    execute_sql_file("superseded/voucher_1901_redemption_parents_kept.sql")


def downgrade() -> None:
    execute_script(
        """
    DROP TRIGGER IF EXISTS redemption_parent_kept ON voucher;
    DROP TRIGGER IF EXISTS redemption_parent_kept ON beneficiary;
    DROP FUNCTION IF EXISTS redemption_parent_kept();
    ALTER TABLE redemption_item ADD CONSTRAINT redemption_item_redemption_id_fkey
      FOREIGN KEY (redemption_id) REFERENCES redemption (id);
    ALTER TABLE redemption
      ADD CONSTRAINT redemption_voucher_id_fkey FOREIGN KEY (voucher_id) REFERENCES voucher (id),
      ADD CONSTRAINT redemption_beneficiary_id_fkey
        FOREIGN KEY (beneficiary_id) REFERENCES beneficiary (id);
    """
    )
