"""the 15-minute care circle kept incrementally (issue 16 part 4): `care_circle_rule` (the
radii measured with), `care_circle_point` (approved, located providers from the directory:
meal point, care provider), `care_circle_person` (each active person's region, location and
whether a meal point and a care provider are in reach; statement triggers on `beneficiary`),
`summary_care_circle` (per region code; statement triggers on `care_circle_person`). A
provider's change re-measures only the people within reach of its old and new positions
(trigger on `care_circle_point`). Filled from the active people; no provider is known yet
(the directory is the service's memory): the service's first sync re-measures them.

Revision ID: voucher_2101
Revises: voucher_2601
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_2101"
down_revision: str | None = "voucher_2601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE care_circle_rule (
      id smallint PRIMARY KEY DEFAULT 1 CONSTRAINT one_row CHECK (id = 1),
      meal_radius_m integer NOT NULL DEFAULT 1000 CHECK (meal_radius_m > 0),
      care_radius_m integer NOT NULL DEFAULT 1500 CHECK (care_radius_m > 0)
    );
    INSERT INTO care_circle_rule DEFAULT VALUES;
    CREATE TABLE care_circle_point (
      provider_id varchar(64) PRIMARY KEY,
      lat float NOT NULL,
      lon float NOT NULL,
      meal boolean NOT NULL,
      care boolean NOT NULL,
      CHECK (meal OR care)
    );
    CREATE INDEX ix_care_circle_point_lat_lon ON care_circle_point (lat, lon);
    CREATE TABLE care_circle_person (
      beneficiary_id uuid PRIMARY KEY,
      region_code varchar(12) NOT NULL,
      lat float,
      lon float,
      approximate boolean NOT NULL,
      meal boolean NOT NULL DEFAULT false,
      care boolean NOT NULL DEFAULT false
    );
    CREATE INDEX ix_care_circle_person_lat_lon ON care_circle_person (lat, lon)
      WHERE lat IS NOT NULL AND lon IS NOT NULL;
    CREATE TABLE summary_care_circle (
      region_code varchar(12) PRIMARY KEY,
      active bigint NOT NULL DEFAULT 0,
      exact bigint NOT NULL DEFAULT 0,
      covered bigint NOT NULL DEFAULT 0,
      meal_covered bigint NOT NULL DEFAULT 0,
      care_covered bigint NOT NULL DEFAULT 0,
      approximate bigint NOT NULL DEFAULT 0,
      unlocated bigint NOT NULL DEFAULT 0
    );
    """)
    execute_sql_file("care_circle_summary.sql")
    execute_script("""
    LOCK TABLE beneficiary IN SHARE MODE;
    INSERT INTO care_circle_person (beneficiary_id, region_code, lat, lon, approximate)
    SELECT id, region_code, lat, lon, location_approximate FROM beneficiary
     WHERE status = 'active';
    """)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER IF EXISTS care_circle_person_ins ON beneficiary;
    DROP TRIGGER IF EXISTS care_circle_person_upd ON beneficiary;
    DROP TRIGGER IF EXISTS care_circle_person_del ON beneficiary;
    DROP TABLE summary_care_circle;
    DROP TABLE care_circle_person;
    DROP TABLE care_circle_point;
    DROP TABLE care_circle_rule;
    DROP FUNCTION IF EXISTS care_circle_person_apply();
    DROP FUNCTION IF EXISTS summary_care_circle_apply();
    DROP FUNCTION IF EXISTS care_circle_point_apply();
    DROP FUNCTION IF EXISTS care_circle_remeasure(uuid[]);
    DROP FUNCTION IF EXISTS care_circle_near(float8, float8, boolean, integer);
    DROP FUNCTION IF EXISTS care_circle_distance_m(float8, float8, float8, float8);
    """)
