"""the dashboard's summaries (issue 16 part 4): `summary_enrolment` (active people per region
code, grade, care setting; statement triggers on `beneficiary`), `summary_use` (vouchers and
redemptions per region code, programme, period; a statement trigger on INSERT into `voucher`
and the summariser reading the outbox after `summary_cursor`). Filled from the existing rows;
the cursor starts at the outbox's last id, whose redemptions the fill already counted.

Revision ID: voucher_2001
Revises: voucher_1901
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_2001"
down_revision: str | None = "voucher_1901"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE summary_enrolment (
      region_code varchar(12) NOT NULL,
      grade smallint NOT NULL,
      care_setting varchar(20) NOT NULL,
      n bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (region_code, grade, care_setting)
    );
    CREATE TABLE summary_use (
      region_code varchar(12) NOT NULL,
      program_code varchar(40) NOT NULL,
      period varchar(7) NOT NULL,
      vouchers bigint NOT NULL DEFAULT 0,
      face_fen bigint NOT NULL DEFAULT 0,
      redemptions bigint NOT NULL DEFAULT 0,
      redeemed_fen bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (region_code, program_code, period)
    );
    CREATE TABLE summary_cursor (
      name varchar(40) NOT NULL PRIMARY KEY,
      last_outbox_id bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    LOCK TABLE beneficiary, voucher, redemption, outbox IN SHARE MODE;
    INSERT INTO summary_enrolment (region_code, grade, care_setting, n)
    SELECT region_code, coalesce(grade, -1), care_setting, count(*)
      FROM beneficiary WHERE status = 'active' GROUP BY 1, 2, 3;
    INSERT INTO summary_cursor (name, last_outbox_id)
    SELECT 'dashboard', coalesce(max(id), 0) FROM outbox;
    INSERT INTO summary_use (region_code, program_code, period, vouchers, face_fen,
                             redemptions, redeemed_fen)
    SELECT v.region_code, v.program_code, v.period, count(*), sum(v.face_fen),
           coalesce(sum(r.n), 0), coalesce(sum(r.fen), 0)
      FROM voucher v
      LEFT JOIN (SELECT voucher_id, count(*) AS n, sum(subsidy_fen) AS fen
                   FROM redemption WHERE status <> 'voided' GROUP BY voucher_id) r
        ON r.voucher_id = v.id
     GROUP BY 1, 2, 3;
    """)
    execute_sql_file("dashboard_summaries.sql")


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER IF EXISTS summary_use_voucher_ins ON voucher;
    DROP TRIGGER IF EXISTS summary_enrolment_ins ON beneficiary;
    DROP TRIGGER IF EXISTS summary_enrolment_upd ON beneficiary;
    DROP TRIGGER IF EXISTS summary_enrolment_del ON beneficiary;
    DROP FUNCTION IF EXISTS summary_use_voucher();
    DROP FUNCTION IF EXISTS summary_enrolment_apply();
    DROP TABLE summary_cursor;
    DROP TABLE summary_use;
    DROP TABLE summary_enrolment;
    """)
