-- Settlement's history tables are append-only (claim_action, payment_batch, bank_confirmation,
-- copayment_method: each table's trigger is created with the table).

CREATE OR REPLACE FUNCTION settlement_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'JOURNAL_IMMUTABLE: % is append-only', TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;
