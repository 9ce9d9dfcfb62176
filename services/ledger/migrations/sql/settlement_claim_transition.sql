-- A claim's status moves only forward along the workflow; who submitted it never changes;
-- claims are never deleted (migration ledger_0101).

CREATE OR REPLACE FUNCTION settlement_claim_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'JOURNAL_IMMUTABLE: claims are never deleted' USING ERRCODE = 'P0001';
  END IF;
  IF NEW.provider_id <> OLD.provider_id OR NEW.period <> OLD.period
     OR NEW.submitted_by <> OLD.submitted_by OR NEW.id <> OLD.id THEN
    RAISE EXCEPTION 'DERIVED_ROW: a claim keeps its provider, period and preparer'
      USING ERRCODE = 'P0001';
  END IF;
  IF NEW.status <> OLD.status AND NOT (OLD.status, NEW.status) IN (
      ('pending', 'submitted'), ('pending', 'abandoned'), ('submitted', 'approved'),
      ('submitted', 'rejected'), ('rejected', 'submitted'), ('approved', 'batched'),
      ('batched', 'paid'), ('batched', 'approved')) THEN
    RAISE EXCEPTION 'CLAIM_TRANSITION_NOT_ALLOWED: % -> %', OLD.status, NEW.status
      USING ERRCODE = 'P0001';
  END IF;
  IF OLD.status <> 'pending' AND (NEW.total_fen <> OLD.total_fen) THEN
    RAISE EXCEPTION 'DERIVED_ROW: a submitted claim keeps its lines' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS claim_transition ON claim;
CREATE TRIGGER claim_transition BEFORE UPDATE OR DELETE ON claim
  FOR EACH ROW EXECUTE FUNCTION settlement_claim_transition();
