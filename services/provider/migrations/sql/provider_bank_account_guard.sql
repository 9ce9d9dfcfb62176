-- The provider's settlement account (what the ledger's payment files use) changes only in the
-- transaction that approved a bank account change with exactly that account.
CREATE OR REPLACE FUNCTION provider_bank_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.bank_name, NEW.bank_account_name, NEW.bank_account_number_enc)
     IS DISTINCT FROM (OLD.bank_name, OLD.bank_account_name, OLD.bank_account_number_enc)
     AND NOT EXISTS (
       SELECT 1 FROM bank_account_change c
        WHERE c.provider_id = NEW.id AND c.status = 'approved'
          AND c.decided_txid = txid_current()
          AND c.bank_name = NEW.bank_name AND c.account_name = NEW.bank_account_name
          AND c.account_number_enc = NEW.bank_account_number_enc) THEN
    RAISE EXCEPTION 'BANK_ACCOUNT_CHANGE_UNAPPROVED: the settlement account changes only by an approved change'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS provider_bank_account_guard ON provider;
CREATE TRIGGER provider_bank_account_guard BEFORE UPDATE ON provider
  FOR EACH ROW EXECUTE FUNCTION provider_bank_account_guard();
