"""beneficiary lifecycle: the status timeline, hospital stays, death, moves and exits

`beneficiary_status_change` is the timeline (append-only: the app role has SELECT and
INSERT). `beneficiary.paused_from/paused_until` hold the person's hospital stay and
`voucher.paused_from/paused_until` the same window on each voucher (what the redemption
statement reads); `exited` is a new person status; a revoked voucher (death, exit) may carry
`released_fen` like an expired one. The trigger `voucher_guard_beneficiary` makes a voucher
inserted for a deceased person revoked from birth (its amount released by
`voucher_released_at_insert`, a `voucher.expired` event) and copies a stay's window onto a new
voucher.

Revision ID: voucher_0801
Revises: voucher_0601
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_0801"
down_revision: str | None = "voucher_1001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE beneficiary ADD COLUMN paused_from date, ADD COLUMN paused_until date;
    ALTER TABLE beneficiary DROP CONSTRAINT ck_beneficiary_status;
    ALTER TABLE beneficiary ADD CONSTRAINT ck_beneficiary_status
      CHECK (status IN ('active', 'suspended', 'deceased', 'moved', 'exited'));
    ALTER TABLE beneficiary ADD CONSTRAINT ck_beneficiary_paused_window
      CHECK (paused_until IS NULL OR (paused_from IS NOT NULL AND paused_until >= paused_from));
    ALTER TABLE voucher ADD COLUMN paused_from date, ADD COLUMN paused_until date;
    ALTER TABLE voucher DROP CONSTRAINT ck_voucher_released_only_when_expired;
    ALTER TABLE voucher ADD CONSTRAINT ck_voucher_released_only_when_ended
      CHECK (released_fen IS NULL OR (released_fen >= 0 AND status IN ('expired', 'revoked')));
    CREATE TABLE beneficiary_status_change (
      id uuid NOT NULL,
      beneficiary_id uuid NOT NULL,
      status varchar(20) NOT NULL,
      effective_on date NOT NULL,
      until date,
      reason text NOT NULL,
      evidence_ref text,
      from_status varchar(20) NOT NULL,
      from_region_code varchar(12) NOT NULL,
      to_region_code varchar(12),
      vouchers_ended integer DEFAULT '0' NOT NULL,
      released_fen bigint DEFAULT '0' NOT NULL,
      source varchar(20) DEFAULT 'officer' NOT NULL,
      created_at timestamptz DEFAULT now() NOT NULL,
      created_by text NOT NULL,
      CONSTRAINT pk_beneficiary_status_change PRIMARY KEY (id),
      CONSTRAINT fk_beneficiary_status_change_beneficiary_id_beneficiary
        FOREIGN KEY (beneficiary_id) REFERENCES beneficiary (id),
      CONSTRAINT ck_beneficiary_status_change_status CHECK (status IN ('active', 'suspended',
        'hospitalised', 'moved', 'deceased', 'exited')),
      CONSTRAINT ck_beneficiary_status_change_until
        CHECK (until IS NULL OR (status = 'hospitalised' AND until >= effective_on)),
      CONSTRAINT ck_beneficiary_status_change_to_region
        CHECK (to_region_code IS NULL OR status = 'moved'),
      CONSTRAINT ck_beneficiary_status_change_released
        CHECK (released_fen >= 0 AND vouchers_ended >= 0),
      CONSTRAINT ck_beneficiary_status_change_source CHECK (source IN ('officer', 'import'))
    );
    CREATE INDEX ix_beneficiary_status_change_beneficiary_id
      ON beneficiary_status_change (beneficiary_id);
    """)
    execute_sql_file("voucher_guard_beneficiary.sql")


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER IF EXISTS voucher_released_at_insert ON voucher;
    DROP FUNCTION IF EXISTS voucher_released_at_insert();
    DROP TRIGGER IF EXISTS voucher_guard_beneficiary ON voucher;
    DROP FUNCTION IF EXISTS voucher_guard_beneficiary();
    DROP TABLE beneficiary_status_change;
    ALTER TABLE voucher DROP CONSTRAINT ck_voucher_released_only_when_ended;
    ALTER TABLE voucher ADD CONSTRAINT ck_voucher_released_only_when_expired
      CHECK (released_fen IS NULL OR (released_fen >= 0 AND status = 'expired'));
    ALTER TABLE voucher DROP COLUMN paused_from, DROP COLUMN paused_until;
    ALTER TABLE beneficiary DROP CONSTRAINT ck_beneficiary_paused_window;
    ALTER TABLE beneficiary DROP CONSTRAINT ck_beneficiary_status;
    ALTER TABLE beneficiary ADD CONSTRAINT ck_beneficiary_status
      CHECK (status IN ('active', 'suspended', 'deceased', 'moved'));
    ALTER TABLE beneficiary DROP COLUMN paused_from, DROP COLUMN paused_until;
    """)
