-- A voucher inserted without a spend area (bulk loads, fixtures) gets its budget region's
-- city; issuance writes it from the program's `spend_scope` and the person's region.
CREATE OR REPLACE FUNCTION voucher_default_spend_region() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.spend_region_prefix := region_spend_prefix(NEW.budget_region_code, 4);
  RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS voucher_default_spend_region ON voucher;
CREATE TRIGGER voucher_default_spend_region
  BEFORE INSERT ON voucher
  FOR EACH ROW WHEN (NEW.spend_region_prefix IS NULL)
  EXECUTE FUNCTION voucher_default_spend_region();
