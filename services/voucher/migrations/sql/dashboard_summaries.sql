-- The dashboard's summaries kept by the cold paths (docs/dashboard.md "Summaries").
-- Statement triggers with transition tables: one grouped upsert per statement, so a set-wise
-- enrolment or issuance of thousands of rows pays one small statement, not one per row.
-- No trigger here touches the redemption's tables or the voucher's UPDATE (the hot path):
-- redemptions and voids reach summary_use through the summariser (service/summary.py).

-- Active people per region code, grade (-1 = none) and care setting.
CREATE OR REPLACE FUNCTION summary_enrolment_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO summary_enrolment AS s (region_code, grade, care_setting, n)
    SELECT region_code, coalesce(grade, -1), care_setting, count(*)
      FROM new_rows WHERE status = 'active'
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (region_code, grade, care_setting) DO UPDATE SET n = s.n + EXCLUDED.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO summary_enrolment AS s (region_code, grade, care_setting, n)
    SELECT region_code, coalesce(grade, -1), care_setting, -count(*)
      FROM old_rows WHERE status = 'active'
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (region_code, grade, care_setting) DO UPDATE SET n = s.n + EXCLUDED.n;
  ELSE
    INSERT INTO summary_enrolment AS s (region_code, grade, care_setting, n)
    SELECT region_code, g, care_setting, sum(d)
      FROM (SELECT region_code, coalesce(grade, -1) AS g, care_setting, 1 AS d
              FROM new_rows WHERE status = 'active'
            UNION ALL
            SELECT region_code, coalesce(grade, -1), care_setting, -1
              FROM old_rows WHERE status = 'active') x
     GROUP BY 1, 2, 3
    HAVING sum(d) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (region_code, grade, care_setting) DO UPDATE SET n = s.n + EXCLUDED.n;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS summary_enrolment_ins ON beneficiary;
CREATE TRIGGER summary_enrolment_ins AFTER INSERT ON beneficiary
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_enrolment_apply();
DROP TRIGGER IF EXISTS summary_enrolment_upd ON beneficiary;
CREATE TRIGGER summary_enrolment_upd AFTER UPDATE ON beneficiary
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_enrolment_apply();
DROP TRIGGER IF EXISTS summary_enrolment_del ON beneficiary;
CREATE TRIGGER summary_enrolment_del AFTER DELETE ON beneficiary
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_enrolment_apply();

-- Vouchers issued (count, face) per region code, programme and period: on INSERT only
-- (issuance; a voucher's region, programme, period and face never change after).
CREATE OR REPLACE FUNCTION summary_use_voucher() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO summary_use AS s (region_code, program_code, period, vouchers, face_fen)
  SELECT region_code, program_code, period, count(*), sum(face_fen)
    FROM new_rows
   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (region_code, program_code, period) DO UPDATE
     SET vouchers = s.vouchers + EXCLUDED.vouchers, face_fen = s.face_fen + EXCLUDED.face_fen;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS summary_use_voucher_ins ON voucher;
CREATE TRIGGER summary_use_voucher_ins AFTER INSERT ON voucher
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_use_voucher();
