"""web: import jobs -- an officer's beneficiary or status import runs in the background, part
by part, with its progress and merged result kept here so the officer can leave and come back
(generated from web/models.py, `ImportJob`)

Revision ID: web_0301
Revises: web_0001
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "web_0301"
down_revision: str | None = "web_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="running", nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("done_rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "result", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('beneficiaries', 'status', 'chain_check')",
            name=op.f("ck_import_job_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed')", name=op.f("ck_import_job_status_known")
        ),
        sa.CheckConstraint(
            "0 <= done_rows AND done_rows <= total_rows", name=op.f("ck_import_job_progress")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["web_user.id"],
            name=op.f("fk_import_job_user_id_web_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    op.create_index(
        "ix_import_job_user_kind_created",
        "import_job",
        ["user_id", "kind", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_import_job_user_kind_created", table_name="import_job")
    op.drop_table("import_job")
