-- A chunk's budget is committed at most once: its status only moves forward
-- (intent -> committed -> done, intent -> refused), and its money and members never change.
CREATE OR REPLACE FUNCTION issuance_chunk_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.beneficiary_ids IS DISTINCT FROM OLD.beneficiary_ids
     OR NEW.amounts_fen IS DISTINCT FROM OLD.amounts_fen
     OR NEW.amount_fen <> OLD.amount_fen OR NEW.idempotency_key <> OLD.idempotency_key THEN
    RAISE EXCEPTION 'CHUNK_IMMUTABLE: an issuance chunk keeps its members and amounts'
      USING ERRCODE = '23514';
  END IF;
  IF NEW.status <> OLD.status AND NOT (
       (OLD.status = 'intent' AND NEW.status IN ('committed', 'refused'))
    OR (OLD.status = 'committed' AND NEW.status = 'done')) THEN
    RAISE EXCEPTION 'CHUNK_STATUS: an issuance chunk cannot go from % to %', OLD.status, NEW.status
      USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS issuance_chunk_forward_only ON issuance_chunk;
CREATE TRIGGER issuance_chunk_forward_only BEFORE UPDATE ON issuance_chunk
  FOR EACH ROW EXECUTE FUNCTION issuance_chunk_forward_only();
