-- A claim's totals equal its active lines, checked at COMMIT: subsidy_fen the redemption lines,
-- copay_fen the co-payment lines, total_fen both (migration ledger_0111; the constraint
-- triggers claim_total_check, claim_line_total_check and claim_copay_line_total_check are
-- created with their tables). The body before co-payment lines is in
-- superseded/ledger_0101_settlement_claim_total_check.sql.

CREATE OR REPLACE FUNCTION settlement_claim_total_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
