-- A death, a move or a suspension freezes the person's vouchers in the same transaction,
-- whoever changes the row: the redemption statement then finds no active voucher.
CREATE OR REPLACE FUNCTION beneficiary_suspends_vouchers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> 'active' AND OLD.status = 'active' THEN
    UPDATE voucher SET status = 'suspended', updated_at = now()
     WHERE beneficiary_id = NEW.id AND status = 'active';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS beneficiary_suspends_vouchers ON beneficiary;
CREATE TRIGGER beneficiary_suspends_vouchers AFTER UPDATE OF status ON beneficiary
  FOR EACH ROW EXECUTE FUNCTION beneficiary_suspends_vouchers();
