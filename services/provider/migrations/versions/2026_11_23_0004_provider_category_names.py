"""provider: service category names shared with the voucher service's programs

(rehab_nursing, escort, institution_stay, respite_stay), so that a program's
`allowed_categories` and a provider's price list speak the same words.

Revision ID: provider_0004
Revises: provider_0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0004"
down_revision: str | None = "provider_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMES = [
    ("rehabilitation_nursing", "rehab_nursing"),
    ("walking_escort", "escort"),
    ("institution_long_stay", "institution_stay"),
    ("institution_respite", "respite_stay"),
]
UNCHANGED = [
    "meal",
    "day_care",
    "bathing",
    "cleaning",
    "emergency_call",
    "medical_escort",
    "home_care_hours",
]


def _quoted(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _switch(pairs: list[tuple[str, str]]) -> str:
    """Rename categories, allow only the new names, and publish the affected providers again
    in the directory feed (a new version, as every change transaction does)."""
    targets = [new for _, new in pairs]
    updates = "\n".join(
        f"UPDATE service_item SET category = '{new}' WHERE category = '{old}';"
        for old, new in pairs
    )
    return f"""
ALTER TABLE service_item DROP CONSTRAINT ck_service_item_category;
{updates}
WITH v AS (UPDATE directory_counter SET version = version + 1, changed_at = now()
           WHERE id = 1 AND EXISTS (SELECT 1 FROM service_item
                                    WHERE category IN ({_quoted(targets)}))
           RETURNING version)
UPDATE provider SET version = (SELECT version FROM v), updated_at = now()
 WHERE id IN (SELECT provider_id FROM service_item WHERE category IN ({_quoted(targets)}));
ALTER TABLE service_item ADD CONSTRAINT ck_service_item_category
  CHECK (category IN ({_quoted(UNCHANGED + targets)}));
"""


def upgrade() -> None:
    execute_script(_switch(RENAMES))


def downgrade() -> None:
    execute_script(_switch([(new, old) for old, new in RENAMES]))
