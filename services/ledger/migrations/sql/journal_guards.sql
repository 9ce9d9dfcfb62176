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
DROP TRIGGER IF EXISTS entry_immutable ON entry;
CREATE TRIGGER entry_immutable BEFORE UPDATE OR DELETE ON entry
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS entry_no_truncate ON entry;
CREATE TRIGGER entry_no_truncate BEFORE TRUNCATE ON entry
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS posting_immutable ON posting;
CREATE TRIGGER posting_immutable BEFORE UPDATE OR DELETE ON posting
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS posting_no_truncate ON posting;
CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON posting
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_event_immutable ON ledger_event;
CREATE TRIGGER ledger_event_immutable BEFORE UPDATE OR DELETE ON ledger_event
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_event_no_truncate ON ledger_event;
CREATE TRIGGER ledger_event_no_truncate BEFORE TRUNCATE ON ledger_event
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS idempotency_record_immutable ON idempotency_record;
CREATE TRIGGER idempotency_record_immutable BEFORE UPDATE OR DELETE ON idempotency_record
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS idempotency_record_no_truncate ON idempotency_record;
CREATE TRIGGER idempotency_record_no_truncate BEFORE TRUNCATE ON idempotency_record
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS commitment_immutable ON commitment;
CREATE TRIGGER commitment_immutable BEFORE UPDATE OR DELETE ON commitment
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS commitment_no_truncate ON commitment;
CREATE TRIGGER commitment_no_truncate BEFORE TRUNCATE ON commitment
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS accounting_period_immutable ON accounting_period;
CREATE TRIGGER accounting_period_immutable BEFORE UPDATE OR DELETE ON accounting_period
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS accounting_period_no_truncate ON accounting_period;
CREATE TRIGGER accounting_period_no_truncate BEFORE TRUNCATE ON accounting_period
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
