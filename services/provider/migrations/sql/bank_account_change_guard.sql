-- A bank account change is decided once: pending -> approved | rejected | superseded, and a
-- decided row never changes; the requested account never changes; rows are never deleted (the
-- table is the account's history). An approval records its transaction, which
-- provider_bank_account_guard.sql checks.
CREATE OR REPLACE FUNCTION provider_bank_change_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'BANK_CHANGE_IMMUTABLE: bank account changes are never deleted'
      USING ERRCODE = 'P0001';
  END IF;
  IF OLD.status <> 'pending' THEN
    RAISE EXCEPTION 'BANK_CHANGE_NOT_PENDING: this change was decided before'
      USING ERRCODE = 'P0001';
  END IF;
  IF (NEW.id, NEW.provider_id, NEW.bank_name, NEW.account_name, NEW.account_number_enc,
      NEW.account_number_masked, NEW.requested_by, NEW.requested_at)
     IS DISTINCT FROM (OLD.id, OLD.provider_id, OLD.bank_name, OLD.account_name,
      OLD.account_number_enc, OLD.account_number_masked, OLD.requested_by,
      OLD.requested_at) THEN
    RAISE EXCEPTION 'BANK_CHANGE_IMMUTABLE: a requested change keeps its account'
      USING ERRCODE = 'P0001';
  END IF;
  NEW.decided_txid := CASE WHEN NEW.status = 'approved' THEN txid_current() END;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS bank_account_change_guard ON bank_account_change;
CREATE TRIGGER bank_account_change_guard BEFORE UPDATE OR DELETE ON bank_account_change
  FOR EACH ROW EXECUTE FUNCTION provider_bank_change_guard();
