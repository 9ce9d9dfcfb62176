"""entry.details: who and why on every entry (issue 21)

Revision ID: ledger_0201
Revises: ledger_0120
Create Date: 2026-12-04

A redemption's entry carries the terminal and staff member who made it, the service item and
the gross bill; a void's, who voided it. `details` is a JSON object (CHECK), NULL for entries
made before and for entries with nothing to add. It is part of the hashed canonical form only
when present, so every hash written before stays valid (docs/ledger.md, "The canonical
form"). Like every entry column it is written once: the append-only triggers refuse any
UPDATE of an entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0201"
down_revision: str | None = "ledger_0120"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE entry ADD COLUMN details jsonb;
    ALTER TABLE entry ADD CONSTRAINT ck_entry_details_object
      CHECK (details IS NULL OR jsonb_typeof(details) = 'object');
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE entry DROP CONSTRAINT ck_entry_details_object;
    ALTER TABLE entry DROP COLUMN details;
    """)
