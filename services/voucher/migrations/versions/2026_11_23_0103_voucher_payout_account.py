"""voucher: beneficiary payout bank account (encrypted) for nursing-subsidy cash benefits

Revision ID: voucher_0103
Revises: voucher_0102
Create Date: 2026-11-23 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "voucher_0103"
down_revision: str | None = "voucher_0102"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The whole account (bank, holder, number) is one AES-GCM blob: personal data.
    op.add_column("beneficiary", sa.Column("payout_account_enc", sa.LargeBinary(), nullable=True))
    op.add_column(
        "beneficiary", sa.Column("payout_account_set_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("beneficiary", sa.Column("payout_account_set_by", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_beneficiary_payout_account_complete"),
        "beneficiary",
        "(payout_account_enc IS NULL) = (payout_account_set_at IS NULL) AND "
        "(payout_account_enc IS NULL) = (payout_account_set_by IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_beneficiary_payout_account_complete"), "beneficiary", type_="check")
    op.drop_column("beneficiary", "payout_account_set_by")
    op.drop_column("beneficiary", "payout_account_set_at")
    op.drop_column("beneficiary", "payout_account_enc")
