-- A recovered redemption (a row in `recovery`) is final money-wise: it can no longer be
-- voided (the recovery already took its subsidy back), and when it was recovered before any
-- claim (mode 'payable') it can no longer be claimed. A recovery is only of a live
-- redemption, and mode 'payable' only while the redemption is unclaimed. Both sides lock the
-- redemption row, so a recovery racing a claim or a void is decided once.
CREATE OR REPLACE FUNCTION redemption_recovered_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'voided' AND OLD.status <> 'voided'
     AND EXISTS (SELECT 1 FROM recovery WHERE redemption_id = NEW.id) THEN
    RAISE EXCEPTION 'REDEMPTION_RECOVERED: a recovered redemption cannot be voided'
      USING ERRCODE = 'P0001';
  END IF;
  IF OLD.claimed_at IS NULL AND NEW.claimed_at IS NOT NULL
     AND EXISTS (SELECT 1 FROM recovery WHERE redemption_id = NEW.id AND mode = 'payable') THEN
    RAISE EXCEPTION 'REDEMPTION_RECOVERED: a recovered redemption cannot be claimed'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS redemption_recovered_guard ON redemption;
CREATE TRIGGER redemption_recovered_guard BEFORE UPDATE OF status, claimed_at ON redemption
  FOR EACH ROW EXECUTE FUNCTION redemption_recovered_guard();

CREATE OR REPLACE FUNCTION recovery_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r redemption%ROWTYPE;
BEGIN
  SELECT * INTO r FROM redemption WHERE id = NEW.redemption_id FOR UPDATE;
  IF r.status = 'voided' THEN
    RAISE EXCEPTION 'REDEMPTION_NOT_RECOVERABLE: a voided redemption paid nothing'
      USING ERRCODE = 'P0001';
  END IF;
  IF NEW.subsidy_fen <> r.subsidy_fen OR NEW.provider_id <> r.provider_id
     OR NEW.voucher_id <> r.voucher_id OR NEW.beneficiary_id <> r.beneficiary_id THEN
    RAISE EXCEPTION 'REDEMPTION_NOT_RECOVERABLE: a recovery takes back exactly its redemption'
      USING ERRCODE = 'P0001';
  END IF;
  IF (NEW.mode = 'payable') <> (r.claimed_at IS NULL) THEN
    RAISE EXCEPTION 'REDEMPTION_NOT_RECOVERABLE: payable only while unclaimed, else receivable'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS recovery_insert_guard ON recovery;
CREATE TRIGGER recovery_insert_guard BEFORE INSERT ON recovery
  FOR EACH ROW EXECUTE FUNCTION recovery_insert_guard();
