"""roster search: the last four characters of the national ID and the phone, in clear;
indexes on (name, id) and (created_at, id) for the roster's orders and keyset pages

What the masked forms show anyway; the roster (GET /v1/beneficiaries) searches them. Rows
enrolled before are filled by the service at start (the values are decrypted with the
personal-data key, which migrations do not hold: service/roster.py `fill_search_keys`).

Revision ID: voucher_0802
Revises: voucher_0801
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_0802"
down_revision: str | None = "voucher_0801"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE beneficiary ADD COLUMN national_id_last4 varchar(4),
                            ADD COLUMN phone_last4 varchar(4);
    CREATE INDEX ix_beneficiary_national_id_last4 ON beneficiary (national_id_last4);
    CREATE INDEX ix_beneficiary_phone_last4 ON beneficiary (phone_last4);
    CREATE INDEX ix_beneficiary_name_id ON beneficiary (name, id);
    CREATE INDEX ix_beneficiary_created_at_id ON beneficiary (created_at, id);
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX ix_beneficiary_created_at_id;
    DROP INDEX ix_beneficiary_name_id;
    DROP INDEX ix_beneficiary_phone_last4;
    DROP INDEX ix_beneficiary_national_id_last4;
    ALTER TABLE beneficiary DROP COLUMN national_id_last4, DROP COLUMN phone_last4;
    """)
