"""receipts the family confirms or disputes; home visits that prove a home-care item

`redemption_history` (append-only): what happened to a redemption after it was made -- the
person's confirmation or dispute (one of the two, once), the officer's decision, the appeal
(once per dispute) and its decision -- with who and when. `dispute`: the case an officer of
the person's region answers by a deadline. `visit`: a care worker's check-in and check-out
with the elder's live code; `redemption.visit_id` names the completed visit that proves a
home-visit item (one live redemption per visit). `beneficiary.location_approximate`: the
registered location is a community's centre, so a check-in skips the radius check. The guard
trigger keeps `visit_id` as written (its previous body is in migrations/sql/superseded/).

Revision ID: voucher_0701
Revises: voucher_0601
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_0701"
down_revision: str | None = "voucher_0802"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE beneficiary ADD COLUMN location_approximate boolean NOT NULL DEFAULT false;
    CREATE TABLE visit (
      id uuid NOT NULL,
      beneficiary_id uuid NOT NULL,
      provider_id text NOT NULL,
      care_worker text,
      status varchar(20) NOT NULL DEFAULT 'open',
      check_in_terminal_id text,
      checked_in_at timestamptz NOT NULL,
      check_in_lat float NOT NULL,
      check_in_lon float NOT NULL,
      location_check varchar(20) NOT NULL,
      check_in_distance_m integer,
      check_out_terminal_id text,
      checked_out_at timestamptz,
      check_out_lat float,
      check_out_lon float,
      check_out_distance_m integer,
      duration_s integer,
      CONSTRAINT pk_visit PRIMARY KEY (id),
      CONSTRAINT visit_beneficiary_id_fkey FOREIGN KEY (beneficiary_id)
        REFERENCES beneficiary (id),
      CONSTRAINT ck_visit_status CHECK (status IN ('open', 'completed')),
      CONSTRAINT ck_visit_location_check
        CHECK (location_check IN ('within_radius', 'approximate', 'no_location')),
      CONSTRAINT ck_visit_check_out CHECK ((status = 'completed') = (checked_out_at IS NOT NULL)
        AND (checked_out_at IS NULL) = (duration_s IS NULL)
        AND (duration_s IS NULL OR duration_s >= 0)
        AND (checked_out_at IS NULL OR checked_out_at >= checked_in_at))
    );
    CREATE INDEX ix_visit_beneficiary_id ON visit (beneficiary_id);
    CREATE INDEX ix_visit_provider_id ON visit (provider_id);
    ALTER TABLE redemption ADD COLUMN visit_id uuid
      CONSTRAINT redemption_visit_id_fkey REFERENCES visit (id);
    CREATE UNIQUE INDEX uq_redemption_visit ON redemption (visit_id)
      WHERE visit_id IS NOT NULL AND status = 'completed';
    CREATE TABLE redemption_history (
      id bigserial NOT NULL,
      redemption_id uuid NOT NULL,
      dispute_id uuid,
      kind varchar(20) NOT NULL,
      actor text NOT NULL,
      actor_role varchar(20) NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      reason text,
      decision varchar(20),
      CONSTRAINT pk_redemption_history PRIMARY KEY (id),
      CONSTRAINT redemption_history_redemption_id_fkey FOREIGN KEY (redemption_id)
        REFERENCES redemption (id),
      CONSTRAINT ck_redemption_history_kind
        CHECK (kind IN ('confirmed', 'disputed', 'decided', 'appealed', 'appeal_decided')),
      CONSTRAINT ck_redemption_history_decision
        CHECK ((kind IN ('decided', 'appeal_decided')) = (decision IS NOT NULL))
    );
    CREATE INDEX ix_redemption_history_redemption_id ON redemption_history (redemption_id);
    CREATE UNIQUE INDEX uq_redemption_history_review ON redemption_history (redemption_id)
      WHERE kind IN ('confirmed', 'disputed');
    CREATE UNIQUE INDEX uq_redemption_history_appeal ON redemption_history (dispute_id)
      WHERE kind = 'appealed';
    CREATE TABLE dispute (
      id uuid NOT NULL,
      redemption_id uuid NOT NULL,
      beneficiary_id uuid NOT NULL,
      provider_id text NOT NULL,
      region_code varchar(12) NOT NULL,
      status varchar(20) NOT NULL DEFAULT 'open',
      reason text NOT NULL,
      opened_by text NOT NULL,
      opened_at timestamptz NOT NULL DEFAULT now(),
      due_at timestamptz NOT NULL,
      decision varchar(20),
      decision_reason text,
      decided_by text,
      decided_at timestamptz,
      appeal_reason text,
      appealed_by text,
      appealed_at timestamptz,
      appeal_due_at timestamptz,
      appeal_decision varchar(20),
      appeal_decision_reason text,
      appeal_decided_by text,
      appeal_decided_at timestamptz,
      CONSTRAINT pk_dispute PRIMARY KEY (id),
      CONSTRAINT dispute_redemption_id_fkey FOREIGN KEY (redemption_id)
        REFERENCES redemption (id),
      CONSTRAINT uq_dispute_redemption_id UNIQUE (redemption_id),
      CONSTRAINT ck_dispute_status CHECK (status IN ('open', 'decided', 'appealed', 'closed')),
      CONSTRAINT ck_dispute_decision_value CHECK (decision IS NULL
        OR decision IN ('upheld', 'partly_upheld', 'rejected')),
      CONSTRAINT ck_dispute_appeal_decision_value CHECK (appeal_decision IS NULL
        OR appeal_decision IN ('upheld', 'partly_upheld', 'rejected')),
      CONSTRAINT ck_dispute_steps CHECK ((status = 'open') = (decision IS NULL)
        AND (decision IS NULL) = (decided_at IS NULL)
        AND (status IN ('appealed', 'closed')) = (appealed_at IS NOT NULL)
        AND (appealed_at IS NULL) = (appeal_due_at IS NULL)
        AND (status = 'closed') = (appeal_decision IS NOT NULL)
        AND (appeal_decision IS NULL) = (appeal_decided_at IS NULL))
    );
    CREATE INDEX ix_dispute_region_code ON dispute (region_code);
    CREATE INDEX ix_dispute_region_status ON dispute (region_code, status);
    """)
    execute_sql_file("redemption_guard.sql")


def downgrade() -> None:
    execute_sql_file("superseded/voucher_0601_redemption_guard.sql")
    execute_script("""
    DROP TABLE dispute;
    DROP TABLE redemption_history;
    DROP INDEX uq_redemption_visit;
    ALTER TABLE redemption DROP COLUMN visit_id;
    DROP TABLE visit;
    ALTER TABLE beneficiary DROP COLUMN location_approximate;
    """)
