-- A claim line is a posted redemption of the claim's provider, not reversed; it only ever
-- leaves its claim (migration ledger_0101).

CREATE OR REPLACE FUNCTION settlement_claim_line_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE e record; c record;
BEGIN
  SELECT kind, provider_id, ref INTO e FROM entry WHERE id = NEW.entry_id;
  SELECT provider_id, status INTO c FROM claim WHERE id = NEW.claim_id;
  IF e.kind IS DISTINCT FROM 'redemption' OR e.ref IS DISTINCT FROM NEW.redemption_id
     OR e.provider_id IS DISTINCT FROM c.provider_id THEN
    RAISE EXCEPTION 'CLAIM_LINE_INVALID: not a redemption of this provider'
      USING ERRCODE = 'P0001';
  END IF;
  IF NEW.active AND EXISTS (SELECT 1 FROM entry r WHERE r.reverses_entry_id = NEW.entry_id) THEN
    RAISE EXCEPTION 'REDEMPTION_VOIDED: a voided redemption cannot be claimed'
      USING ERRCODE = 'P0001';
  END IF;
  IF TG_OP = 'UPDATE' AND (NEW.amount_fen <> OLD.amount_fen OR NEW.entry_id <> OLD.entry_id
     OR NEW.redemption_id <> OLD.redemption_id OR (NEW.active AND NOT OLD.active)) THEN
    RAISE EXCEPTION 'DERIVED_ROW: a claim line only ever leaves its claim'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS claim_line_check ON claim_line;
CREATE TRIGGER claim_line_check BEFORE INSERT OR UPDATE ON claim_line
  FOR EACH ROW EXECUTE FUNCTION settlement_claim_line_check();
