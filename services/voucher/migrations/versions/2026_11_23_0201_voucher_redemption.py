"""redemption: used QR nonces, printed cards, redemptions (idempotent, voidable, claimable)

Revision ID: voucher_0201
Revises: voucher_0004
Create Date: 2026-11-23 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "voucher_0201"
down_revision: str | None = "voucher_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES_SQL = """
CREATE TABLE used_nonce (
  nonce bytea NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_used_nonce PRIMARY KEY (nonce),
  CONSTRAINT ck_used_nonce_length CHECK (octet_length(nonce) = 8)
);
CREATE INDEX ix_used_nonce_expires_at ON used_nonce (expires_at);

CREATE TABLE card (
  id uuid NOT NULL,
  beneficiary_id uuid NOT NULL REFERENCES beneficiary (id),
  nonce bytea NOT NULL,
  pin_salt bytea NOT NULL,
  pin_hash bytea NOT NULL,
  failed_attempts integer NOT NULL DEFAULT 0,
  status varchar(20) NOT NULL DEFAULT 'active',
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  locked_at timestamptz,
  replaced_at timestamptz,
  CONSTRAINT pk_card PRIMARY KEY (id),
  CONSTRAINT uq_card_nonce UNIQUE (nonce),
  CONSTRAINT ck_card_status CHECK (status IN ('active', 'locked', 'replaced')),
  CONSTRAINT ck_card_failed_attempts CHECK (failed_attempts BETWEEN 0 AND 5)
);
-- At most one usable (active or locked) card per person; a reissue replaces the old one.
CREATE UNIQUE INDEX uq_card_one_current ON card (beneficiary_id) WHERE status <> 'replaced';

CREATE TABLE redemption (
  id uuid NOT NULL,
  voucher_id uuid NOT NULL REFERENCES voucher (id),
  beneficiary_id uuid NOT NULL REFERENCES beneficiary (id),
  provider_id text NOT NULL,
  terminal_id text,
  service_code text NOT NULL,
  category text NOT NULL,
  gross_fen bigint NOT NULL,
  subsidy_fen bigint NOT NULL,
  copay_fen bigint NOT NULL,
  balance_after_fen bigint NOT NULL,
  idempotency_key text NOT NULL,
  request_hash bytea NOT NULL,
  nonce bytea,
  card_id uuid REFERENCES card (id),
  day_on date NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  status varchar(20) NOT NULL DEFAULT 'completed',
  voided_at timestamptz,
  voided_by text,
  void_reason text,
  claimed_at timestamptz,
  claim_id text,
  CONSTRAINT pk_redemption PRIMARY KEY (id),
  CONSTRAINT uq_redemption_provider_id_idempotency_key UNIQUE (provider_id, idempotency_key),
  CONSTRAINT ck_redemption_amounts CHECK (
    gross_fen > 0 AND subsidy_fen > 0 AND copay_fen >= 0 AND subsidy_fen + copay_fen = gross_fen
    AND balance_after_fen >= 0),
  CONSTRAINT ck_redemption_status CHECK (status IN ('completed', 'voided')),
  CONSTRAINT ck_redemption_void_fields CHECK (
    (status = 'voided') = (voided_at IS NOT NULL AND void_reason IS NOT NULL)),
  CONSTRAINT ck_redemption_void_or_claim CHECK (NOT (status = 'voided' AND claimed_at IS NOT NULL))
);
CREATE INDEX ix_redemption_provider_day ON redemption (provider_id, day_on);
CREATE INDEX ix_redemption_beneficiary_created ON redemption (beneficiary_id, created_at);
CREATE INDEX ix_redemption_voucher ON redemption (voucher_id);

"""


def upgrade() -> None:
    execute_script(TABLES_SQL)
    execute_sql_file("superseded/voucher_0201_redemption_guard.sql")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS redemption")
    op.execute("DROP FUNCTION IF EXISTS redemption_guard()")
    op.execute("DROP TABLE IF EXISTS card")
    op.execute("DROP TABLE IF EXISTS used_nonce")
