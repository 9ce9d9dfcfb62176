-- A voucher or a person that a redemption names is never deleted (migrations voucher_1901,
-- voucher_2301).
--
-- The foreign keys redemption.voucher_id -> voucher and redemption.beneficiary_id ->
-- beneficiary were dropped from the hot path: their insert-side check is already made by the
-- redemption statement itself (REDEEM in services/voucher/repository/redemption.py takes both
-- ids from the voucher row it has just locked FOR UPDATE and updated, and voucher.beneficiary_id
-- has its own foreign key), while each cost a lookup and a row lock per redemption
-- (docs/performance.md, "The hot path at a third of the limit"). What the keys also did --
-- refuse to delete a parent that a redemption still names -- is kept here, at the cost of a
-- delete (which the service never does) instead of a redemption.
--
-- A voucher's redemptions are found among its person's (ix_redemption_beneficiary_created):
-- a redemption's person is its voucher's, taken from the voucher row by REDEEM and never
-- changed (redemption_guard), so no index on redemption.voucher_id is kept for this
-- (voucher_2301 dropped it: one index fewer written per redemption).
CREATE OR REPLACE FUNCTION redemption_parent_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'voucher' THEN
    IF EXISTS (SELECT 1 FROM redemption r
                WHERE r.beneficiary_id = OLD.beneficiary_id AND r.voucher_id = OLD.id) THEN
      RAISE EXCEPTION 'REDEMPTION_PARENT: a voucher with redemptions is never deleted'
        USING ERRCODE = '23503';
    END IF;
  ELSIF EXISTS (SELECT 1 FROM redemption r WHERE r.beneficiary_id = OLD.id) THEN
    RAISE EXCEPTION 'REDEMPTION_PARENT: a person with redemptions is never deleted'
      USING ERRCODE = '23503';
  END IF;
  RETURN OLD;
END $$;

DROP TRIGGER IF EXISTS redemption_parent_kept ON voucher;
CREATE TRIGGER redemption_parent_kept BEFORE DELETE ON voucher
  FOR EACH ROW EXECUTE FUNCTION redemption_parent_kept();
DROP TRIGGER IF EXISTS redemption_parent_kept ON beneficiary;
CREATE TRIGGER redemption_parent_kept BEFORE DELETE ON beneficiary
  FOR EACH ROW EXECUTE FUNCTION redemption_parent_kept();
