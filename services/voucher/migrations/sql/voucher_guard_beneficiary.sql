-- No live voucher for a deceased person, ever, whoever inserts it (an issuance chunk racing a
-- death, a bulk load): such a voucher is born revoked, its amount released at once -- the
-- AFTER trigger below writes the same `voucher.expired` event a lapse writes, so the budget
-- the chunk committed comes back and the books still agree (refusing the row instead would
-- leave the chunk's commitment without its vouchers, and every resume failing again).
-- A voucher issued during a hospital stay carries the stay's window, which the redemption
-- statement reads (BENEFICIARY_PAUSED). The person's row is read FOR SHARE so that an insert
-- racing a death waits for the death to commit and then sees it.
CREATE OR REPLACE FUNCTION voucher_guard_beneficiary() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  person record;
BEGIN
  SELECT status, paused_from, paused_until INTO person
    FROM beneficiary WHERE id = NEW.beneficiary_id FOR SHARE;
  IF FOUND THEN
    IF person.status = 'deceased' THEN
      NEW.status := 'revoked';
      NEW.released_fen := NEW.balance_fen;
      NEW.balance_fen := 0;
    END IF;
    IF NEW.paused_from IS NULL AND person.paused_from IS NOT NULL THEN
      NEW.paused_from := person.paused_from;
      NEW.paused_until := person.paused_until;
    END IF;
  END IF;
  RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS voucher_guard_beneficiary ON voucher;
CREATE TRIGGER voucher_guard_beneficiary
  BEFORE INSERT ON voucher
  FOR EACH ROW EXECUTE FUNCTION voucher_guard_beneficiary();

-- A voucher born revoked (above) hands its amount back to the budget: one event per row
-- really inserted (an AFTER trigger does not fire for a row ON CONFLICT DO NOTHING skipped).
CREATE OR REPLACE FUNCTION voucher_released_at_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox (event_id, type, payload)
  VALUES (gen_random_uuid(), 'voucher.expired', jsonb_build_object(
    'voucher_id', NEW.id::text, 'beneficiary_id', NEW.beneficiary_id::text,
    'released_fen', NEW.released_fen, 'program_code', NEW.program_code,
    'region_code', NEW.region_code, 'budget_region_code', NEW.budget_region_code,
    'period', NEW.period, 'funding_shares', NEW.funding_shares));
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS voucher_released_at_insert ON voucher;
CREATE TRIGGER voucher_released_at_insert
  AFTER INSERT ON voucher
  FOR EACH ROW WHEN (NEW.released_fen > 0)
  EXECUTE FUNCTION voucher_released_at_insert();
