-- A claim's totals equal its active lines, checked at COMMIT: subsidy_fen the redemption lines,
-- copay_fen the co-payment lines, recovered_fen the recovery lines, total_fen = subsidy +
-- co-payments - recoveries (migrations ledger_0111, ledger_0401; the constraint triggers
-- claim_total_check, claim_line_total_check, claim_copay_line_total_check and
-- claim_recovery_line_total_check are created with their tables). The bodies before are in
-- superseded/.

CREATE OR REPLACE FUNCTION settlement_claim_total_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE cid uuid; s bigint; n integer; cp bigint; rc bigint; t bigint; k integer; sf bigint;
        cf bigint; rf bigint;
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
  SELECT coalesce(sum(amount_fen), 0) INTO rc
    FROM claim_recovery_line WHERE claim_id = cid AND active;
  SELECT total_fen, line_count, subsidy_fen, copay_fen, recovered_fen INTO t, k, sf, cf, rf
    FROM claim WHERE id = cid;
  IF t IS NOT NULL AND (sf <> s OR k <> n OR cf <> cp OR rf <> rc OR t <> s + cp - rc) THEN
    RAISE EXCEPTION 'CLAIM_TOTAL_MISMATCH: claim % total % <> lines % + co-payments % - recoveries %',
      cid, t, s, cp, rc USING ERRCODE = 'P0001';
  END IF;
  RETURN NULL;
END $$;
