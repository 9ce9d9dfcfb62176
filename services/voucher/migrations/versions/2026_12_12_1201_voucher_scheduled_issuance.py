"""issuance on a schedule: the scheduler's slots and a lease in place of the advisory lock

`scheduled_issuance` holds one row per program, period and region that the scheduler
(`yiyang scheduler`) has issued or is issuing: the unique key makes a second scheduler's
claim of the same slot impossible, its lease lets another scheduler resume a run whose
process died. `issuance_lock` replaces the session-level advisory lock of a run with a lease
row per program and period (it works through a transaction-mode connection pooler).
`issuance_run.trigger` gains `schedule`.

Revision ID: voucher_1201
Revises: voucher_0601
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_1201"
down_revision: str | None = "voucher_0901"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE issuance_lock (
      program_code varchar(40) NOT NULL,
      period varchar(7) NOT NULL,
      run_id uuid NOT NULL,
      expires_at timestamptz NOT NULL,
      acquired_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pk_issuance_lock PRIMARY KEY (program_code, period)
    );
    CREATE TABLE scheduled_issuance (
      id uuid NOT NULL,
      program_code varchar(40) NOT NULL,
      period varchar(7) NOT NULL,
      region_code varchar(12) NOT NULL,
      status varchar(20) NOT NULL DEFAULT 'due',
      run_id uuid,
      attempts integer NOT NULL DEFAULT 0,
      claimed_by text,
      lease_until timestamptz,
      next_attempt_at timestamptz,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      CONSTRAINT pk_scheduled_issuance PRIMARY KEY (id),
      CONSTRAINT uq_scheduled_issuance_slot UNIQUE (program_code, period, region_code),
      CONSTRAINT ck_scheduled_issuance_status CHECK (status IN ('due', 'running', 'completed',
        'budget_exhausted', 'failed')),
      CONSTRAINT ck_scheduled_issuance_attempts CHECK (attempts >= 0)
    );
    CREATE INDEX ix_scheduled_issuance_period ON scheduled_issuance (period);
    ALTER TABLE issuance_run DROP CONSTRAINT ck_issuance_run_trigger;
    ALTER TABLE issuance_run ADD CONSTRAINT ck_issuance_run_trigger
      CHECK (trigger IN ('run', 'enrolment', 'schedule'));
    """)


def downgrade() -> None:
    execute_script("""
    UPDATE issuance_run SET trigger = 'run' WHERE trigger = 'schedule';
    ALTER TABLE issuance_run DROP CONSTRAINT ck_issuance_run_trigger;
    ALTER TABLE issuance_run ADD CONSTRAINT ck_issuance_run_trigger
      CHECK (trigger IN ('run', 'enrolment'));
    DROP TABLE scheduled_issuance;
    DROP TABLE issuance_lock;
    """)
