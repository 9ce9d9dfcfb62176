-- A payment line is settled once and never changes otherwise, is never deleted, and a paid line
-- is settled by an entry that debits exactly its amount from provider payable (2201) or, for a
-- cash benefit, from the beneficiary's payable (2202) (migrations ledger_0102, ledger_0103,
-- ledger_0110; the trigger payment_line_guard is created with the table). The bodies before
-- are in superseded/.

CREATE OR REPLACE FUNCTION settlement_payment_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'JOURNAL_IMMUTABLE: payment lines are never deleted' USING ERRCODE = 'P0001';
  END IF;
  IF (NEW.reference, NEW.batch_id, NEW.claim_id, NEW.amount_fen, NEW.account_number_enc,
      NEW.payee_kind, NEW.cash_entry_id, NEW.beneficiary_id)
     IS DISTINCT FROM (OLD.reference, OLD.batch_id, OLD.claim_id, OLD.amount_fen,
                       OLD.account_number_enc, OLD.payee_kind, OLD.cash_entry_id,
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
