-- settlement_payment_line_guard as migration ledger_0103 installed it (provider and beneficiary
-- lines, the account number in plain), for the state before ledger_0110 (whose downgrade loads
-- it again). Current body: ../settlement_payment_line_guard.sql.

CREATE OR REPLACE FUNCTION settlement_payment_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'JOURNAL_IMMUTABLE: payment lines are never deleted' USING ERRCODE = 'P0001';
  END IF;
  IF (NEW.reference, NEW.batch_id, NEW.claim_id, NEW.amount_fen, NEW.account_number,
      NEW.payee_kind, NEW.cash_entry_id, NEW.beneficiary_id)
     IS DISTINCT FROM (OLD.reference, OLD.batch_id, OLD.claim_id, OLD.amount_fen,
                       OLD.account_number, OLD.payee_kind, OLD.cash_entry_id,
                       OLD.beneficiary_id)
     OR (OLD.status <> 'pending' AND NEW IS DISTINCT FROM OLD) THEN
    RAISE EXCEPTION 'DERIVED_ROW: a payment line is settled once and never changes'
      USING ERRCODE = 'P0001';
  END IF;
  IF NEW.status = 'paid' AND NOT EXISTS (
      SELECT 1 FROM posting p JOIN account a ON a.id = p.account_id
       WHERE p.entry_id = NEW.entry_id
         AND a.code = CASE NEW.payee_kind WHEN 'beneficiary' THEN '2202' ELSE '2201' END
         AND (NEW.payee_kind = 'provider' OR a.beneficiary_id = NEW.beneficiary_id)
      HAVING sum(p.amount_fen) = NEW.amount_fen) THEN
    RAISE EXCEPTION 'AMOUNT_MISMATCH: the payment entry does not pay the line amount'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;
