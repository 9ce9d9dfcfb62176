"""profile edits (audited, contact encrypted), a reassessment in force from the next period,
issuance skips with their reason, quarterly spot reassessment draws

Revision ID: voucher_1301
Revises: voucher_1401
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "voucher_1301"
down_revision: str | None = "voucher_1401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spot_draw",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Text(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("population_hash", sa.String(length=64), nullable=False),
        sa.Column("drawn", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.CheckConstraint("drawn >= 0 AND drawn <= population", name=op.f("ck_spot_draw_drawn")),
        sa.CheckConstraint("share_bp BETWEEN 1 AND 10000", name=op.f("ck_spot_draw_share_bp")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_draw")),
        sa.UniqueConstraint("region_code", "quarter", name="uq_spot_draw_region_quarter"),
    )
    op.create_table(
        "beneficiary_profile_change",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("beneficiary_id", sa.UUID(), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("previous_enc", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "cardinality(fields) > 0", name=op.f("ck_beneficiary_profile_change_fields")
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiary.id"],
            name=op.f("fk_beneficiary_profile_change_beneficiary_id_beneficiary"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beneficiary_profile_change")),
    )
    op.create_index(
        op.f("ix_beneficiary_profile_change_beneficiary_id"),
        "beneficiary_profile_change",
        ["beneficiary_id"],
        unique=False,
    )
    op.create_table(
        "issuance_skip",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("beneficiary_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("reason IN ('assessment_lapsed')", name=op.f("ck_issuance_skip_reason")),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiary.id"],
            name=op.f("fk_issuance_skip_beneficiary_id_beneficiary"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["issuance_run.id"], name=op.f("fk_issuance_skip_run_id_issuance_run")
        ),
        sa.PrimaryKeyConstraint("run_id", "beneficiary_id", name=op.f("pk_issuance_skip")),
    )
    op.create_index(
        op.f("ix_issuance_skip_beneficiary_id"), "issuance_skip", ["beneficiary_id"], unique=False
    )
    op.create_table(
        "spot_draw_member",
        sa.Column("draw_id", sa.UUID(), nullable=False),
        sa.Column("beneficiary_id", sa.UUID(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiary.id"],
            name=op.f("fk_spot_draw_member_beneficiary_id_beneficiary"),
        ),
        sa.ForeignKeyConstraint(
            ["draw_id"], ["spot_draw.id"], name=op.f("fk_spot_draw_member_draw_id_spot_draw")
        ),
        sa.PrimaryKeyConstraint("draw_id", "beneficiary_id", name=op.f("pk_spot_draw_member")),
        sa.UniqueConstraint("draw_id", "rank", name="uq_spot_draw_member_rank"),
    )
    op.create_index(
        op.f("ix_spot_draw_member_beneficiary_id"),
        "spot_draw_member",
        ["beneficiary_id"],
        unique=False,
    )
    op.add_column("beneficiary", sa.Column("grade_from", sa.Date(), nullable=True))
    op.add_column("beneficiary", sa.Column("prior_grade", sa.SmallInteger(), nullable=True))
    op.add_column("beneficiary", sa.Column("prior_grade_valid_until", sa.Date(), nullable=True))
    op.add_column("beneficiary", sa.Column("contact_enc", sa.LargeBinary(), nullable=True))
    op.create_check_constraint(
        op.f("ck_beneficiary_prior_grade"), "beneficiary", "prior_grade BETWEEN 0 AND 4"
    )
    op.add_column(
        "issuance_run",
        sa.Column(
            "skip_reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("issuance_run", "skip_reasons")
    op.drop_constraint(op.f("ck_beneficiary_prior_grade"), "beneficiary", type_="check")
    op.drop_column("beneficiary", "contact_enc")
    op.drop_column("beneficiary", "prior_grade_valid_until")
    op.drop_column("beneficiary", "prior_grade")
    op.drop_column("beneficiary", "grade_from")
    op.drop_index(op.f("ix_spot_draw_member_beneficiary_id"), table_name="spot_draw_member")
    op.drop_table("spot_draw_member")
    op.drop_index(op.f("ix_issuance_skip_beneficiary_id"), table_name="issuance_skip")
    op.drop_table("issuance_skip")
    op.drop_index(
        op.f("ix_beneficiary_profile_change_beneficiary_id"),
        table_name="beneficiary_profile_change",
    )
    op.drop_table("beneficiary_profile_change")
    op.drop_table("spot_draw")
