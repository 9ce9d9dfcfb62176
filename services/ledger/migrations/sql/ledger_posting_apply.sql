-- Once per INSERT statement on posting (migrations ledger_0002, ledger_0120, ledger_0601,
-- ledger_1101, ledger_1301, ledger_1401): postings belong to an entry of this transaction and repeat its
-- book/seq/date/period and its provider, beneficiary and voucher (the auditor's entries by
-- one of those are read from entry's indexes: ledger_1301), and to an existing account in its
-- currency; no-overdraft accounts stay
-- on their side of zero; balances move (a hot account's in one of its balance slots,
-- ledger_hot_balance.sql); and the balance check of journal_setwise_checks.sql is queued again
-- when a posting joins an entry written by an earlier statement (ledger_1401).

CREATE OR REPLACE FUNCTION ledger_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
  hot record;
  seal record;
  this_command cid;
BEGIN
  -- The command that inserted these postings (all of a statement's rows carry its cmin).
  SELECT p.cmin INTO this_command
    FROM (SELECT entry_id, line FROM new_postings LIMIT 1) n
    JOIN posting p ON p.entry_id = n.entry_id AND p.line = n.line;
  SELECT bool_or(e.id IS NULL OR e.txid <> txid_current() OR n.seq <> e.seq
                 OR n.book <> e.book OR n.posted_at <> e.posted_at OR n.period <> e.period
                 OR n.provider_id IS DISTINCT FROM e.provider_id
                 OR n.beneficiary_id IS DISTINCT FROM e.beneficiary_id
                 OR n.voucher_id IS DISTINCT FROM e.voucher_id) AS broken,
         bool_or(NOT (e.cmin = this_command)) AS joins_earlier_entry
    INTO seal
    -- (a key probe a posting: as a plain join, the cached plan hash-joined the whole journal)
    FROM new_postings n LEFT JOIN LATERAL
         (SELECT x.id, x.txid, x.seq, x.book, x.posted_at, x.period, x.provider_id,
                 x.beneficiary_id, x.voucher_id, x.cmin
            FROM entry x WHERE x.id = n.entry_id LIMIT 1) e ON true;
  IF seal.broken THEN
    RAISE EXCEPTION 'ENTRY_SEALED: postings may only be added to an entry in the transaction that created it'
      USING ERRCODE = '23514';
  END IF;
  SELECT n.account_id, a.id, a.currency, n.currency AS posting_currency INTO bad
    FROM new_postings n LEFT JOIN account a ON a.id = n.account_id
   WHERE a.id IS NULL OR a.currency <> n.currency LIMIT 1;
  IF FOUND THEN
    IF bad.id IS NULL THEN
      RAISE EXCEPTION 'UNKNOWN_ACCOUNT: no account %', bad.account_id USING ERRCODE = '23503';
    END IF;
    RAISE EXCEPTION 'CURRENCY_MISMATCH: account % is kept in %', bad.id, bad.currency
      USING ERRCODE = '23514';
  END IF;
  -- The whole account (a hot account's slots summed) would cross zero: refused with the
  -- reason people read. (The slots' own checks and ledger_hot_balance_move are what hold
  -- under any concurrency; this reads them without locks, for the message.)
  SELECT a.id, a.code, a.region_code, a.funding_source INTO bad
    FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
    JOIN account a ON a.id = s.account_id
   WHERE a.no_overdraft AND s.delta * a.normal_sign < 0
     AND (a.balance_fen + s.delta + CASE WHEN a.balance_slots > 1 THEN
           (SELECT coalesce(sum(b.balance_fen), 0) FROM account_balance_slot b
             WHERE b.account_id = a.id) ELSE 0 END) * a.normal_sign < 0
   ORDER BY a.id LIMIT 1;
  IF FOUND THEN
    PERFORM ledger_refuse_overdraft(bad.id, bad.code, bad.region_code, bad.funding_source);
  END IF;
  UPDATE account a SET balance_fen = a.balance_fen + s.delta
    FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
   WHERE a.id = s.account_id AND a.balance_slots = 1;
  FOR hot IN
    SELECT s.account_id, s.delta
      FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
      JOIN account a ON a.id = s.account_id
     WHERE a.balance_slots > 1 AND s.delta <> 0
     ORDER BY s.account_id
  LOOP
    PERFORM ledger_hot_balance_move(hot.account_id, hot.delta::bigint);
  END LOOP;
  -- Queue the balance check again (book_head_entries_balanced) when a posting joins an entry
  -- an earlier statement wrote: the check that entry's INSERT queued may have run already
  -- (SET CONSTRAINTS ... IMMEDIATE), and postings added after it must be checked too. An
  -- entry written by this same statement (the service writes a batch's entries and postings
  -- in one) queued the check in this statement, so it cannot have run before these postings
  -- existed: queueing it again would only run it twice at COMMIT (ledger_1401). Only the
  -- heads of the postings' own books, already this transaction's (the seal above: the
  -- entries are): another book's writers never wait on this one.
  IF seal.joins_earlier_entry THEN
    UPDATE book_head SET last_seq = last_seq
     WHERE book IN (SELECT DISTINCT n.book FROM new_postings n);
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS posting_apply ON posting;
CREATE TRIGGER posting_apply AFTER INSERT ON posting REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_apply();
