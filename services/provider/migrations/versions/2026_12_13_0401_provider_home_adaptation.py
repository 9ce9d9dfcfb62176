"""provider: the service category home_adaptation (适老化改造: grab bars, non-slip floors,
ramps), on which the one-off home adaptation voucher is spent

Revision ID: provider_0401
Revises: provider_0301
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0401"
down_revision: str | None = "provider_0301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = [
    "meal",
    "day_care",
    "rehab_nursing",
    "bathing",
    "cleaning",
    "escort",
    "emergency_call",
    "medical_escort",
    "home_care_hours",
    "institution_stay",
    "respite_stay",
]


def _allow(values: list[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"""
    ALTER TABLE service_item DROP CONSTRAINT ck_service_item_category;
    ALTER TABLE service_item ADD CONSTRAINT ck_service_item_category
      CHECK (category IN ({quoted}));
    """


def upgrade() -> None:
    execute_script(_allow([*BEFORE, "home_adaptation"]))


def downgrade() -> None:
    execute_script("DELETE FROM service_item WHERE category = 'home_adaptation';")
    execute_script(_allow(BEFORE))
