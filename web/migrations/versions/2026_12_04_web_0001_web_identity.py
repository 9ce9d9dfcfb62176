"""web: accounts, recovery codes, sessions, the sign-in throttle and the audit log
(generated from web/models.py; the audit log is append-only for the web's own role, see
APPEND_ONLY_TABLES and services/common/migrate.py)

Revision ID: web_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "web_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=12), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.CheckConstraint(
            "action IN ('sign_in', 'sign_in_failed', 'sign_in_throttled', 'totp_failed', 'recovery_code_used', 'sign_out', 'sign_out_everywhere', 'password_changed', 'totp_enrolled', 'user_created', 'user_disabled', 'user_enabled', 'user_rescoped', 'password_reset', 'totp_reset', 'audit_exported')",
            name=op.f("ck_audit_event_action_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_actor_at", "audit_event", ["actor", "at"], unique=False)
    op.create_index("ix_audit_event_at", "audit_event", ["at"], unique=False)
    op.create_index("ix_audit_event_subject_at", "audit_event", ["subject", "at"], unique=False)
    op.create_table(
        "sign_in_throttle",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('pair', 'address', 'account')", name=op.f("ck_sign_in_throttle_kind_known")
        ),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_sign_in_throttle_failures_not_negative")),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_sign_in_throttle")),
    )
    op.create_table(
        "web_user",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=12), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column(
            "beneficiary_ids",
            postgresql.ARRAY(sa.String(length=64)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), server_default="active", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "password_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_pending_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("terminal_secret", sa.LargeBinary(), nullable=True),
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
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "role IN ('beneficiary', 'proxy', 'provider_staff', 'provider_admin', 'civil_affairs', 'finance', 'auditor', 'admin')",
            name=op.f("ck_web_user_role_known"),
        ),
        sa.CheckConstraint(
            "role NOT IN ('beneficiary', 'proxy') OR cardinality(beneficiary_ids) > 0",
            name=op.f("ck_web_user_person_roles_have_people"),
        ),
        sa.CheckConstraint(
            "role NOT IN ('provider_staff', 'provider_admin') OR provider_id IS NOT NULL",
            name=op.f("ck_web_user_provider_roles_have_a_provider"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'disabled')", name=op.f("ck_web_user_status_known")
        ),
        sa.CheckConstraint(
            "username = lower(username)", name=op.f("ck_web_user_username_lower_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_user")),
        sa.UniqueConstraint("username", name=op.f("uq_web_user_username")),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["web_user.id"],
            name=op.f("fk_recovery_code_user_id_web_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("uq_recovery_code_user_id_code_hash")
        ),
    )
    op.create_index(op.f("ix_recovery_code_user_id"), "recovery_code", ["user_id"], unique=False)
    op.create_table(
        "web_session",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mfa_pending", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("mfa_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("acting_for", sa.String(length=64), nullable=True),
        sa.Column(
            "flash", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["web_user.id"],
            name=op.f("fk_web_session_user_id_web_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_index(op.f("ix_recovery_code_user_id"), table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_table("web_user")
    op.drop_table("sign_in_throttle")
    op.drop_index("ix_audit_event_subject_at", table_name="audit_event")
    op.drop_index("ix_audit_event_at", table_name="audit_event")
    op.drop_index("ix_audit_event_actor_at", table_name="audit_event")
    op.drop_table("audit_event")
