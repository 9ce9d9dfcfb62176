"""the redemption's hot path: two secondary indexes it wrote for readers that do without them

Revision ID: voucher_2301
Revises: voucher_2001
Create Date: 2026-12-14

Every redemption wrote an entry in each index of the tables it inserts into
(docs/performance.md, "The hot path at a third of the limit"). Two of them served readers
that have another way in:

- `ix_redemption_voucher` (redemption.voucher_id): read by the anomaly detector's facts of a
  voucher and by the trigger `redemption_parent_kept` on a voucher's delete. Both know the
  voucher's person, and a redemption's person is its voucher's (REDEEM takes it from the
  locked voucher row; `redemption_guard` keeps it), so both now read the person's
  redemptions through `ix_redemption_beneficiary_created` (a person's few a day) and keep
  the voucher's (migrations/sql/redemption_parents_kept.sql; repository/anomalies.py).
- `ix_used_nonce_expires_at`: read only by the purge of used nonces, once a minute per
  worker. A row lives until its token's expiry plus a minute's slack and a purge interval
  (about three minutes for a phone's code), so the table holds a few minutes of
  redemptions and the purge reads it whole; the replay guarantee is the primary key, kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_2301"
down_revision: str | None = "voucher_2001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_sql_file("redemption_parents_kept.sql")
    execute_script(
        """
    DROP INDEX ix_redemption_voucher;
    DROP INDEX ix_used_nonce_expires_at;
    """
    )


def downgrade() -> None:
    execute_script(
        """
    CREATE INDEX ix_used_nonce_expires_at ON used_nonce (expires_at);
    CREATE INDEX ix_redemption_voucher ON redemption (voucher_id);
    """
    )
    execute_sql_file("superseded/voucher_1901_redemption_parents_kept.sql")
