"""provider: the review asks for changes and refuses; licence documents kept with the application

`provider.status` gains `changes_requested` (the officer asked for changes; the provider edits
and resubmits, back to `applied`) and `refused` (the application refused, final); the status
trigger (migrations/sql/provider_status_guard.sql) takes the new table, in which an application
is no longer revoked (applied -> revoked) but refused. `provider_document` keeps the licence
documents (PDF, JPEG, PNG) uploaded with an application, in this database (append-only).

Revision ID: provider_0201
Revises: provider_0006
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "provider_0201"
down_revision: str | None = "provider_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE provider DROP CONSTRAINT ck_provider_status;
    ALTER TABLE provider ADD CONSTRAINT ck_provider_status CHECK (status IN ('applied',
      'changes_requested', 'approved', 'suspended', 'revoked', 'refused'));
    """)
    execute_sql_file("provider_status_guard.sql")
    op.create_table(
        "provider_document",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("provider_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('business_licence', 'food_licence', 'institution_registration', "
            "'fire_safety', 'other')",
            name=op.f("ck_provider_document_kind"),
        ),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_provider_document_content_type"),
        ),
        sa.CheckConstraint(
            "size_bytes > 0 AND size_bytes = octet_length(content)",
            name=op.f("ck_provider_document_size"),
        ),
        sa.CheckConstraint(
            "sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_provider_document_sha256_hex")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_document_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_document")),
    )
    op.create_index(op.f("ix_provider_document_provider_id"), "provider_document", ["provider_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_provider_document_provider_id"), table_name="provider_document")
    op.drop_table("provider_document")
    # Fails while a provider is changes_requested or refused: decide those first.
    execute_script("""
    ALTER TABLE provider DROP CONSTRAINT ck_provider_status;
    ALTER TABLE provider ADD CONSTRAINT ck_provider_status
      CHECK (status IN ('applied', 'approved', 'suspended', 'revoked'));
    CREATE OR REPLACE FUNCTION provider_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = OLD.status THEN
        RETURN NEW;
      END IF;
      IF (OLD.status, NEW.status) IN (('applied', 'approved'), ('applied', 'revoked'),
                                      ('approved', 'suspended'), ('approved', 'revoked'),
                                      ('suspended', 'approved'), ('suspended', 'revoked')) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'ILLEGAL_TRANSITION: a provider cannot go from % to %', OLD.status,
        NEW.status USING ERRCODE = 'P0001';
    END $$;
    """)
