"""copayment: the part of a bill the voucher does not cover, paid online (Stripe) or in cash

Revision ID: voucher_0301
Revises: voucher_0201
Create Date: 2026-11-23

One co-payment per redemption; its Stripe idempotency key is ours and stored (the local fake
ignores keys). The database refuses refunding more than was captured and capturing more than
the co-payment.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_0301"
down_revision: str | None = "voucher_0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE copayment (
      id uuid NOT NULL,
      redemption_id uuid NOT NULL REFERENCES redemption (id),
      provider_id text NOT NULL,
      method text NOT NULL,
      amount_fen bigint NOT NULL,
      captured_fen bigint NOT NULL DEFAULT 0,
      refunded_fen bigint NOT NULL DEFAULT 0,
      status text NOT NULL,
      stripe_idempotency_key text NOT NULL,
      stripe_payment_intent_id text,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pk_copayment PRIMARY KEY (id),
      CONSTRAINT uq_copayment_redemption_id UNIQUE (redemption_id),
      CONSTRAINT uq_copayment_stripe_idempotency_key UNIQUE (stripe_idempotency_key),
      CONSTRAINT uq_copayment_stripe_payment_intent_id UNIQUE (stripe_payment_intent_id),
      CONSTRAINT ck_copayment_method CHECK (method IN ('stripe', 'cash')),
      CONSTRAINT ck_copayment_status CHECK (status IN ('open', 'succeeded', 'refunded')),
      CONSTRAINT ck_copayment_amounts CHECK (amount_fen > 0 AND captured_fen >= 0
        AND captured_fen <= amount_fen AND refunded_fen >= 0 AND refunded_fen <= captured_fen)
    );
    CREATE TABLE copay_refund (
      idempotency_key text NOT NULL,
      copayment_id uuid NOT NULL REFERENCES copayment (id),
      amount_fen bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pk_copay_refund PRIMARY KEY (idempotency_key),
      CONSTRAINT ck_copay_refund_amount CHECK (amount_fen >= 0)
    );
    CREATE TABLE stripe_webhook_event (
      id text NOT NULL,
      type text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pk_stripe_webhook_event PRIMARY KEY (id)
    );
    """)


def downgrade() -> None:
    execute_script(
        "DROP TABLE stripe_webhook_event; DROP TABLE copay_refund; DROP TABLE copayment;"
    )
