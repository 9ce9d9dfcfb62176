-- Journal rows are never updated, deleted or truncated; balances and the chain head change
-- only from inside the journal's own triggers, and an account's identity never changes
-- (migration ledger_0002; the app role also lacks the grants, see models.APPEND_ONLY_TABLES).

CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'JOURNAL_IMMUTABLE: % of % is refused; correct by a reversing entry',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;

-- Balances and the chain head change only from inside the journal's own triggers.
CREATE OR REPLACE FUNCTION ledger_derived_row_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'DERIVED_ROW: % of % is refused; it follows from the journal',
      TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
  END IF;
  -- (nested: PL/pgSQL plans the inner test only where NEW has these columns)
  IF TG_TABLE_NAME = 'account' THEN
    IF (NEW.code, NEW.kind, NEW.normal_sign, NEW.no_overdraft, NEW.program_code,
        NEW.region_code, NEW.funding_source, NEW.provider_id, NEW.beneficiary_id, NEW.currency)
       IS DISTINCT FROM (OLD.code, OLD.kind, OLD.normal_sign, OLD.no_overdraft,
        OLD.program_code, OLD.region_code, OLD.funding_source, OLD.provider_id,
        OLD.beneficiary_id, OLD.currency) THEN
      RAISE EXCEPTION 'DERIVED_ROW: an account''s identity never changes' USING ERRCODE = 'P0001';
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS account_guard ON account;
CREATE TRIGGER account_guard BEFORE UPDATE OR DELETE ON account
  FOR EACH ROW EXECUTE FUNCTION ledger_derived_row_guard();
DROP TRIGGER IF EXISTS account_no_truncate ON account;
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON account
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS book_head_guard ON book_head;
CREATE TRIGGER book_head_guard BEFORE UPDATE OR DELETE ON book_head
  FOR EACH ROW EXECUTE FUNCTION ledger_derived_row_guard();
DROP TRIGGER IF EXISTS book_head_no_truncate ON book_head;
CREATE TRIGGER book_head_no_truncate BEFORE TRUNCATE ON book_head
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- The journal's own tables: append-only.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['entry', 'posting', 'ledger_event', 'idempotency_record',
                           'commitment', 'accounting_period'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_immutable', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I '
                   'FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()', t || '_immutable', t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_no_truncate', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()', t || '_no_truncate', t);
  END LOOP;
END $$;
