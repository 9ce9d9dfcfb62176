-- An account is opened with a zero balance: balances only ever come from postings, so no role
-- can conjure a balance by inserting a row (migration ledger_0003).

CREATE OR REPLACE FUNCTION ledger_account_opens_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance_fen <> 0 THEN
    RAISE EXCEPTION 'DERIVED_ROW: an account opens with a zero balance' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS account_opens_empty ON account;
CREATE TRIGGER account_opens_empty BEFORE INSERT ON account
  FOR EACH ROW EXECUTE FUNCTION ledger_account_opens_empty();
