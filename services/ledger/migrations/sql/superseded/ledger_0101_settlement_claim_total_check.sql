-- settlement_claim_total_check as migration ledger_0101 installed it (claim lines only), for the
-- states before ledger_0111 (whose downgrade loads it again). Current body:
-- ../settlement_claim_total_check.sql.

CREATE OR REPLACE FUNCTION settlement_claim_total_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
