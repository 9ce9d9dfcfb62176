"""redemption.staff_id: who at the terminal made the redemption (issue 21)

Revision ID: voucher_1001
Revises: voucher_0601
Create Date: 2026-12-04

The terminal may say which staff member is signed in (`staff_id` in POST /v1/redemptions;
the web's provider page sends its user). It is stored with the redemption and carried, with
the terminal, in the `redemption.created` event, so the ledger's entry records who made it.
NULL for redemptions made before and for terminals that do not say. The guard trigger now
keeps the terminal and staff member as written too (its previous body is in
migrations/sql/superseded/voucher_0601_redemption_guard.sql).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_1001"
down_revision: str | None = "voucher_1100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("ALTER TABLE redemption ADD COLUMN staff_id text;")
    execute_sql_file("redemption_guard.sql")


def downgrade() -> None:
    execute_sql_file("superseded/voucher_0601_redemption_guard.sql")
    execute_script("ALTER TABLE redemption DROP COLUMN staff_id;")
