"""voucher request keys (idempotency of enrolment and runs); chunk funding shares

Revision ID: voucher_0102
Revises: voucher_0101
Create Date: 2026-11-23 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "voucher_0102"
down_revision: str | None = "voucher_0101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_key",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("resource_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_request_key")),
    )
    # A resumed chunk must ask the ledger with exactly the body it first sent.
    op.add_column(
        "issuance_chunk",
        sa.Column("funding_shares", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("issuance_chunk", "funding_shares")
    op.drop_table("request_key")
