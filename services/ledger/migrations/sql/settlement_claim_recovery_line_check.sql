-- A recovery line is a `recovery_receivable` entry of the claim's provider, for exactly what
-- it debited provider payable; it only ever leaves its claim (migration ledger_0401).

CREATE OR REPLACE FUNCTION settlement_claim_recovery_line_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE e record; c record; owed bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'JOURNAL_IMMUTABLE: claim lines are never deleted' USING ERRCODE = 'P0001';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF (NEW.claim_id, NEW.entry_id, NEW.redemption_id, NEW.amount_fen)
       IS DISTINCT FROM (OLD.claim_id, OLD.entry_id, OLD.redemption_id, OLD.amount_fen)
       OR (NEW.active AND NOT OLD.active) THEN
      RAISE EXCEPTION 'DERIVED_ROW: a claim line only ever leaves its claim'
        USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
  END IF;
  SELECT kind, provider_id, ref INTO e FROM entry WHERE id = NEW.entry_id;
  SELECT provider_id INTO c FROM claim WHERE id = NEW.claim_id;
  SELECT sum(p.amount_fen) INTO owed FROM posting p JOIN account a ON a.id = p.account_id
   WHERE p.entry_id = NEW.entry_id AND a.code = '2201';
  IF e.kind IS DISTINCT FROM 'recovery_receivable'
     OR e.ref IS DISTINCT FROM NEW.redemption_id
     OR e.provider_id IS DISTINCT FROM c.provider_id
     OR owed IS DISTINCT FROM NEW.amount_fen THEN
    RAISE EXCEPTION 'CLAIM_LINE_INVALID: not a recovery owed by this provider'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS claim_recovery_line_check ON claim_recovery_line;
CREATE TRIGGER claim_recovery_line_check BEFORE INSERT OR UPDATE OR DELETE ON claim_recovery_line
  FOR EACH ROW EXECUTE FUNCTION settlement_claim_recovery_line_check();
