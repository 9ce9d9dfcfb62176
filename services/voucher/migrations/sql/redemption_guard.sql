-- A redemption's money facts never change -- its amounts and the bill they were priced from
-- (service, category, price-list version, the visit that proves a home-visit item; its lines
-- in redemption_item are append-only), nor who made it (terminal, staff member: migration
-- voucher_1001) -- and only its void and claim fields may be set, once.
CREATE OR REPLACE FUNCTION redemption_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'REDEMPTION_IMMUTABLE: redemptions are never deleted'
      USING ERRCODE = 'P0001';
  END IF;
  IF (NEW.id, NEW.voucher_id, NEW.beneficiary_id, NEW.provider_id, NEW.gross_fen,
      NEW.subsidy_fen, NEW.copay_fen, NEW.balance_after_fen, NEW.idempotency_key,
      NEW.request_hash, NEW.day_on, NEW.created_at, NEW.service_code, NEW.category,
      NEW.price_list_version, NEW.terminal_id, NEW.staff_id, NEW.visit_id)
     IS DISTINCT FROM
     (OLD.id, OLD.voucher_id, OLD.beneficiary_id, OLD.provider_id, OLD.gross_fen,
      OLD.subsidy_fen, OLD.copay_fen, OLD.balance_after_fen, OLD.idempotency_key,
      OLD.request_hash, OLD.day_on, OLD.created_at, OLD.service_code, OLD.category,
      OLD.price_list_version, OLD.terminal_id, OLD.staff_id, OLD.visit_id) THEN
    RAISE EXCEPTION 'REDEMPTION_IMMUTABLE: the amounts of a redemption never change'
      USING ERRCODE = 'P0001';
  END IF;
  IF OLD.status = 'voided' AND NEW.status <> 'voided' THEN
    RAISE EXCEPTION 'REDEMPTION_VOIDED: a void is final' USING ERRCODE = 'P0001';
  END IF;
  IF OLD.claimed_at IS NOT NULL AND NEW.status = 'voided' THEN
    RAISE EXCEPTION 'REDEMPTION_CLAIMED: a claimed redemption cannot be voided'
      USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS redemption_guard ON redemption;
CREATE TRIGGER redemption_guard BEFORE UPDATE OR DELETE ON redemption
  FOR EACH ROW EXECUTE FUNCTION redemption_guard();
