"""copay_refund: every refund is a durable row, made in the same transaction as its cause
(a void, a provider's request, a payment captured after its redemption was voided) and sent
to Stripe after commit, retried until Stripe confirms it.

Revision ID: voucher_0501
Revises: voucher_0400
Create Date: 2026-11-23

copayment.refunded_fen stays "refunds Stripe (or the counter, for cash) has made";
copayment.refund_pending_fen is what is promised and not yet confirmed. The database refuses
promising more than was captured: refunded + pending <= captured. copayment.synced_at is when
the PaymentIntent was last re-read from Stripe (the fallback for a lost webhook). Rows written before this
revision were made synchronously and are `succeeded`.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_0501"
down_revision: str | None = "voucher_0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE copayment ADD COLUMN refund_pending_fen bigint NOT NULL DEFAULT 0,
      ADD COLUMN synced_at timestamptz;
    ALTER TABLE copayment DROP CONSTRAINT ck_copayment_amounts;
    ALTER TABLE copayment ADD CONSTRAINT ck_copayment_amounts CHECK (amount_fen > 0
      AND captured_fen >= 0 AND captured_fen <= amount_fen AND refunded_fen >= 0
      AND refund_pending_fen >= 0 AND refunded_fen + refund_pending_fen <= captured_fen);
    ALTER TABLE copay_refund
      ADD COLUMN status text NOT NULL DEFAULT 'succeeded',
      ADD COLUMN reason text NOT NULL DEFAULT 'request',
      ADD COLUMN stripe_refund_id text,
      ADD COLUMN attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN last_error text,
      ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN leased_until timestamptz,
      ADD COLUMN completed_at timestamptz;
    ALTER TABLE copay_refund ADD CONSTRAINT ck_copay_refund_status
      CHECK (status IN ('pending', 'succeeded'));
    ALTER TABLE copay_refund ADD CONSTRAINT ck_copay_refund_reason
      CHECK (reason IN ('request', 'void', 'late_capture'));
    ALTER TABLE copay_refund ADD CONSTRAINT uq_copay_refund_stripe_refund_id
      UNIQUE (stripe_refund_id);
    CREATE INDEX ix_copay_refund_pending ON copay_refund (next_attempt_at)
      WHERE status = 'pending';
    CREATE INDEX ix_copay_refund_copayment_id ON copay_refund (copayment_id);
    CREATE INDEX ix_copayment_open ON copayment (created_at) WHERE status = 'open';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX ix_copayment_open;
    DROP INDEX ix_copay_refund_copayment_id;
    DROP INDEX ix_copay_refund_pending;
    ALTER TABLE copay_refund DROP CONSTRAINT uq_copay_refund_stripe_refund_id,
      DROP CONSTRAINT ck_copay_refund_reason, DROP CONSTRAINT ck_copay_refund_status,
      DROP COLUMN completed_at, DROP COLUMN leased_until, DROP COLUMN next_attempt_at,
      DROP COLUMN last_error, DROP COLUMN attempts, DROP COLUMN stripe_refund_id,
      DROP COLUMN reason, DROP COLUMN status;
    ALTER TABLE copayment DROP CONSTRAINT ck_copayment_amounts;
    ALTER TABLE copayment ADD CONSTRAINT ck_copayment_amounts CHECK (amount_fen > 0
      AND captured_fen >= 0 AND captured_fen <= amount_fen AND refunded_fen >= 0
      AND refunded_fen <= captured_fen);
    ALTER TABLE copayment DROP COLUMN synced_at, DROP COLUMN refund_pending_fen;
    """)
