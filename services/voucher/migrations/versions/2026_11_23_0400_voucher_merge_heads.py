"""voucher: join the three lines of migrations (issuance/payout, redemption area, co-payments)

The issuance and payout-account migrations (voucher_01xx), the redemption-area rule
(voucher_0202) and co-payments (voucher_0301) were written in parallel from the same parent;
they touch different tables, so this revision only records that all three are applied.

Revision ID: voucher_0400
Revises: voucher_0103, voucher_0202, voucher_0301
Create Date: 2026-11-23
"""

from __future__ import annotations

revision: str = "voucher_0400"
down_revision: tuple[str, ...] = ("voucher_0103", "voucher_0202", "voucher_0301")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
