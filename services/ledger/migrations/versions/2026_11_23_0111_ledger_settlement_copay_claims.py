"""settlement: online co-payments are claimed with the subsidy and paid in the same line

Revision ID: ledger_0111
Revises: ledger_0110
Create Date: 2026-11-23

- `copayment_method`: how each co-payment was paid (stripe | cash) with its redemption and
  provider, recorded from the `copay.*` events before they are applied (the journal itself
  does not carry the method). Append-only.
- `claim_copay_line`: a claim's co-payment lines, one per co-payment entry (`copay_received`
  positive, `copay_refunded` negative), each entry in at most one live claim (partial unique
  index); only an online (stripe) co-payment entry of the claim's provider, for exactly what
  it posted to provider payable (trigger).
- `claim.subsidy_fen` / `claim.copay_fen`: the two parts; `total_fen = subsidy_fen +
  copay_fen` (CHECK) and each part equals its live lines (deferred constraint trigger).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0111"
down_revision: str | None = "ledger_0110"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TOTAL_CHECK = """
    CREATE OR REPLACE FUNCTION settlement_claim_total_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE cid uuid; s bigint; n integer; cp bigint; t bigint; k integer; sf bigint; cf bigint;
    BEGIN
      IF TG_TABLE_NAME = 'claim' THEN
        cid := NEW.id;
      ELSIF TG_OP = 'DELETE' THEN
        cid := OLD.claim_id;
      ELSE
        cid := NEW.claim_id;
      END IF;
      SELECT coalesce(sum(amount_fen), 0), count(*) INTO s, n
        FROM claim_line WHERE claim_id = cid AND active;
      SELECT coalesce(sum(amount_fen), 0) INTO cp
        FROM claim_copay_line WHERE claim_id = cid AND active;
      SELECT total_fen, line_count, subsidy_fen, copay_fen INTO t, k, sf, cf
        FROM claim WHERE id = cid;
      IF t IS NOT NULL AND (sf <> s OR k <> n OR cf <> cp OR t <> s + cp) THEN
        RAISE EXCEPTION 'CLAIM_TOTAL_MISMATCH: claim % total % <> lines % + co-payments %',
          cid, t, s, cp USING ERRCODE = 'P0001';
      END IF;
      RETURN NULL;
    END $$;
"""

_OLD_TOTAL_CHECK = """
    CREATE OR REPLACE FUNCTION settlement_claim_total_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE cid uuid; s bigint; n integer; t bigint; k integer;
    BEGIN
      IF TG_TABLE_NAME = 'claim' THEN
        cid := NEW.id;
      ELSIF TG_OP = 'DELETE' THEN
        cid := OLD.claim_id;
      ELSE
        cid := NEW.claim_id;
      END IF;
      SELECT coalesce(sum(amount_fen), 0), count(*) INTO s, n
        FROM claim_line WHERE claim_id = cid AND active;
      SELECT total_fen, line_count INTO t, k FROM claim WHERE id = cid;
      IF t IS NOT NULL AND (t <> s OR k <> n) THEN
        RAISE EXCEPTION 'CLAIM_TOTAL_MISMATCH: claim % total % <> lines %', cid, t, s
          USING ERRCODE = 'P0001';
      END IF;
      RETURN NULL;
    END $$;
"""


def upgrade() -> None:
    execute_script(
        """
    CREATE TABLE copayment_method (
      copayment_id text NOT NULL,
      method text NOT NULL,
      redemption_id text NOT NULL,
      provider_id text NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      CONSTRAINT pk_copayment_method PRIMARY KEY (copayment_id),
      CONSTRAINT ck_copayment_method_method CHECK (method IN ('stripe', 'cash'))
    );
    CREATE TRIGGER copayment_method_append_only BEFORE UPDATE OR DELETE ON copayment_method
      FOR EACH ROW EXECUTE FUNCTION settlement_append_only();

    ALTER TABLE claim ADD COLUMN subsidy_fen bigint NOT NULL DEFAULT 0,
                      ADD COLUMN copay_fen bigint NOT NULL DEFAULT 0;
    UPDATE claim SET subsidy_fen = total_fen;
    SET CONSTRAINTS ALL IMMEDIATE;  -- the deferred total checks run now, before ALTER TABLE
    ALTER TABLE claim ADD CONSTRAINT ck_claim_parts CHECK (
      total_fen = subsidy_fen + copay_fen AND subsidy_fen >= 0);

    CREATE TABLE claim_copay_line (
      claim_id uuid NOT NULL REFERENCES claim (id),
      entry_id uuid NOT NULL REFERENCES entry (id),
      copayment_id text NOT NULL,
      amount_fen bigint NOT NULL,
      active boolean NOT NULL DEFAULT true,
      CONSTRAINT pk_claim_copay_line PRIMARY KEY (claim_id, entry_id),
      CONSTRAINT ck_claim_copay_line_amount CHECK (amount_fen <> 0)
    );
    CREATE UNIQUE INDEX uq_claim_copay_line_active_entry ON claim_copay_line (entry_id)
      WHERE active;
    CREATE INDEX ix_claim_copay_line_copayment ON claim_copay_line (copayment_id);

    -- A co-payment line is an online co-payment entry of the claim's provider, for exactly
    -- what it posted to provider payable; it only ever leaves its claim.
    CREATE FUNCTION settlement_claim_copay_line_check() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE e record; c record; owed bigint;
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'JOURNAL_IMMUTABLE: claim lines are never deleted' USING ERRCODE = 'P0001';
      END IF;
      IF TG_OP = 'UPDATE' THEN
        IF (NEW.claim_id, NEW.entry_id, NEW.copayment_id, NEW.amount_fen)
           IS DISTINCT FROM (OLD.claim_id, OLD.entry_id, OLD.copayment_id, OLD.amount_fen)
           OR (NEW.active AND NOT OLD.active) THEN
          RAISE EXCEPTION 'DERIVED_ROW: a claim line only ever leaves its claim'
            USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
      END IF;
      SELECT kind, provider_id, ref INTO e FROM entry WHERE id = NEW.entry_id;
      SELECT provider_id INTO c FROM claim WHERE id = NEW.claim_id;
      SELECT -sum(p.amount_fen) INTO owed FROM posting p JOIN account a ON a.id = p.account_id
       WHERE p.entry_id = NEW.entry_id AND a.code = '2201';
      IF e.kind NOT IN ('copay_received', 'copay_refunded')
         OR e.ref IS DISTINCT FROM NEW.copayment_id
         OR e.provider_id IS DISTINCT FROM c.provider_id
         OR owed IS DISTINCT FROM NEW.amount_fen
         OR NOT EXISTS (SELECT 1 FROM copayment_method m WHERE m.copayment_id = NEW.copayment_id
                          AND m.method = 'stripe') THEN
        RAISE EXCEPTION 'CLAIM_LINE_INVALID: not an online co-payment entry of this provider'
          USING ERRCODE = 'P0001';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER claim_copay_line_check BEFORE INSERT OR UPDATE OR DELETE ON claim_copay_line
      FOR EACH ROW EXECUTE FUNCTION settlement_claim_copay_line_check();
    """
        + _TOTAL_CHECK
        + """
    CREATE CONSTRAINT TRIGGER claim_copay_line_total_check
      AFTER INSERT OR UPDATE ON claim_copay_line
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION settlement_claim_total_check();
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP TABLE claim_copay_line;
    DROP FUNCTION settlement_claim_copay_line_check();
    ALTER TABLE claim DROP CONSTRAINT ck_claim_parts, DROP COLUMN subsidy_fen,
                      DROP COLUMN copay_fen;
    DROP TABLE copayment_method;
    """
        + _OLD_TOTAL_CHECK
    )
