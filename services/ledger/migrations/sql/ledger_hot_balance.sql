-- Hot accounts' balances in slots (migration ledger_1101; docs/ledger.md, "Hot accounts").
--
-- An account with balance_slots = n > 1 (a programme's budget, vouchers outstanding, expense
-- and budget expended of a region: every redemption of a city touches them) keeps its balance
-- in n slots: slot 0 is account.balance_fen, slots 1..n-1 are rows of account_balance_slot.
-- The account's balance is their sum. A posting statement moves, per hot account, the first
-- slot (from slot 0) that it can lock without waiting and that can take the move (FOR UPDATE
-- SKIP LOCKED), so concurrent writers of one account do not queue on its row lock.
-- Every slot of a no-overdraft account stays on its side of zero on its own (the slot's
-- CHECK, and ck_account_no_overdraft for slot 0), so the sum does too, whatever runs
-- concurrently: a debit takes a slot that can cover it; when none free can, every slot is
-- locked in slot order (waiting), the sum checked and spread evenly over the slots, so that
-- the next concurrent debits find slots that cover them. A writer alone always moves slot 0
-- (balances stay where they were until writers meet). Two writers that each hold a slot and
-- wait for the others can deadlock; PostgreSQL then aborts one (40P01), which
-- retry_transaction runs again.

-- The refusal of an overdraft, worded as people read it (3001: the budget).
CREATE OR REPLACE FUNCTION ledger_refuse_overdraft(
  acct bigint, code text, region text, source text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF code = '3001' THEN
    RAISE EXCEPTION 'BUDGET_EXCEEDED: the budget of region % (%) cannot cover this',
      region, source USING ERRCODE = '23514';
  END IF;
  RAISE EXCEPTION 'INSUFFICIENT_BALANCE: account % (%) would be overdrawn', acct, code
    USING ERRCODE = '23514';
END $$;

CREATE OR REPLACE FUNCTION ledger_hot_balance_move(acct bigint, delta bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  a record;
  n int;
  moved int;
  total bigint;
  share bigint;
BEGIN
  SELECT balance_slots, no_overdraft, normal_sign, code, region_code, funding_source INTO a
    FROM account WHERE id = acct;
  n := a.balance_slots;
  -- The first slot (from slot 0) free now that can take the move.
  FOR s IN 0 .. n - 1 LOOP
    IF s = 0 THEN
      WITH f AS (SELECT id FROM account WHERE id = acct FOR UPDATE SKIP LOCKED)
      UPDATE account t SET balance_fen = t.balance_fen + delta FROM f
       WHERE t.id = f.id
         AND (NOT t.no_overdraft OR (t.balance_fen + delta) * t.normal_sign >= 0);
    ELSE
      WITH f AS (
        SELECT slot FROM account_balance_slot WHERE account_id = acct AND slot = s
           FOR UPDATE SKIP LOCKED
      )
      UPDATE account_balance_slot t SET balance_fen = t.balance_fen + delta FROM f
       WHERE t.account_id = acct AND t.slot = f.slot
         AND (NOT t.no_overdraft OR (t.balance_fen + delta) * t.normal_sign >= 0);
    END IF;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
      RETURN;
    END IF;
  END LOOP;
  IF NOT a.no_overdraft OR delta * a.normal_sign >= 0 THEN
    -- (a move that cannot overdraw) every slot busy: wait for one, spreading the waiters by
    -- their transaction id
    IF txid_current() % n = 0 THEN
      UPDATE account SET balance_fen = balance_fen + delta WHERE id = acct;
    ELSE
      UPDATE account_balance_slot SET balance_fen = balance_fen + delta
       WHERE account_id = acct AND slot = txid_current() % n;
    END IF;
    RETURN;
  END IF;
  -- A debit no free slot covers: wait for every slot (in slot order), check the sum, and
  -- spread the new balance evenly (the remainder in slot 0; every part on the sum's side).
  PERFORM 1 FROM account WHERE id = acct FOR UPDATE;
  PERFORM 1 FROM account_balance_slot WHERE account_id = acct ORDER BY slot FOR UPDATE;
  SELECT t.balance_fen + coalesce((SELECT sum(b.balance_fen) FROM account_balance_slot b
                                    WHERE b.account_id = acct), 0) + delta
    INTO total FROM account t WHERE t.id = acct;
  IF total * a.normal_sign < 0 THEN
    PERFORM ledger_refuse_overdraft(acct, a.code, a.region_code, a.funding_source);
  END IF;
  share := total / n;  -- truncated toward zero: every part keeps the sum's sign
  UPDATE account SET balance_fen = total - share * (n - 1) WHERE id = acct;
  UPDATE account_balance_slot SET balance_fen = share WHERE account_id = acct;
END $$;

-- A hot account's slots are opened empty with it (and only so).
CREATE OR REPLACE FUNCTION ledger_account_open_slots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance_slots > 1 THEN
    INSERT INTO account_balance_slot (account_id, slot, no_overdraft, normal_sign)
    SELECT NEW.id, g, NEW.no_overdraft, NEW.normal_sign FROM generate_series(1, NEW.balance_slots - 1) g;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS account_open_slots ON account;
CREATE TRIGGER account_open_slots AFTER INSERT ON account
  FOR EACH ROW EXECUTE FUNCTION ledger_account_open_slots();

-- An account's number of slots never changes (its slots were opened with it).
CREATE OR REPLACE FUNCTION ledger_account_slots_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance_slots <> OLD.balance_slots THEN
    RAISE EXCEPTION 'DERIVED_ROW: an account''s balance slots never change' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

-- (called only when the slots change: every posting updates its accounts' balances, and a
-- PL/pgSQL call per account row was a third of the posting trigger's time; ledger_1402)
DROP TRIGGER IF EXISTS account_slots_fixed ON account;
CREATE TRIGGER account_slots_fixed BEFORE UPDATE ON account
  FOR EACH ROW WHEN (NEW.balance_slots IS DISTINCT FROM OLD.balance_slots)
  EXECUTE FUNCTION ledger_account_slots_fixed();

-- A slot is derived like a balance: inserted empty by its account's opening, moved only from
-- inside the posting trigger, never re-keyed, deleted or truncated.
CREATE OR REPLACE FUNCTION ledger_balance_slot_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'DERIVED_ROW: % of % is refused; it follows from the journal',
      TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
  END IF;
  IF TG_OP = 'INSERT' AND NEW.balance_fen <> 0 THEN
    RAISE EXCEPTION 'DERIVED_ROW: a balance slot opens empty' USING ERRCODE = 'P0001';
  END IF;
  IF TG_OP = 'UPDATE' AND (NEW.account_id, NEW.slot, NEW.no_overdraft, NEW.normal_sign)
     IS DISTINCT FROM (OLD.account_id, OLD.slot, OLD.no_overdraft, OLD.normal_sign) THEN
    RAISE EXCEPTION 'DERIVED_ROW: a balance slot''s identity never changes' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS balance_slot_guard ON account_balance_slot;
CREATE TRIGGER balance_slot_guard BEFORE INSERT OR UPDATE OR DELETE ON account_balance_slot
  FOR EACH ROW EXECUTE FUNCTION ledger_balance_slot_guard();
DROP TRIGGER IF EXISTS balance_slot_no_truncate ON account_balance_slot;
CREATE TRIGGER balance_slot_no_truncate BEFORE TRUNCATE ON account_balance_slot
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
