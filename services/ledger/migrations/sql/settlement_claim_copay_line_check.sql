-- A co-payment line is an online co-payment entry of the claim's provider, for exactly what it
-- posted to provider payable; it only ever leaves its claim (migration ledger_0111).

CREATE OR REPLACE FUNCTION settlement_claim_copay_line_check() RETURNS trigger LANGUAGE plpgsql AS $$
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

DROP TRIGGER IF EXISTS claim_copay_line_check ON claim_copay_line;
CREATE TRIGGER claim_copay_line_check BEFORE INSERT OR UPDATE OR DELETE ON claim_copay_line
  FOR EACH ROW EXECUTE FUNCTION settlement_claim_copay_line_check();
