-- A voucher is never issued for a deceased person (whoever inserts it: issuance, enrolment,
-- a bulk load), and a voucher issued during a hospital stay carries the stay's window, which
-- the redemption statement reads (BENEFICIARY_PAUSED). The person's row is read FOR SHARE so
-- that an insert racing a death waits for the death to commit and then sees it.
CREATE OR REPLACE FUNCTION voucher_guard_beneficiary() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  person record;
BEGIN
  SELECT status, paused_from, paused_until INTO person
    FROM beneficiary WHERE id = NEW.beneficiary_id FOR SHARE;
  IF FOUND THEN
    IF person.status = 'deceased' THEN
      RAISE EXCEPTION 'BENEFICIARY_DECEASED: no voucher is issued for a deceased person'
        USING ERRCODE = 'P0001';
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
