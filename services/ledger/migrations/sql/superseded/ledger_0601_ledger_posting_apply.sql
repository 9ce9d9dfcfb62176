-- Once per INSERT statement on posting (migrations ledger_0002, ledger_0120, ledger_0601):
-- postings belong to an entry of this transaction and repeat its book/seq/date/period, and to an
-- existing account in
-- its currency; no-overdraft accounts stay on their side of zero; balances move; and the
-- balance check of journal_setwise_checks.sql is queued again.

CREATE OR REPLACE FUNCTION ledger_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.entry_id, e.seq INTO bad
    FROM new_postings n LEFT JOIN entry e ON e.id = n.entry_id
   WHERE e.id IS NULL OR e.txid <> txid_current() OR n.seq <> e.seq
      OR n.book <> e.book OR n.posted_at <> e.posted_at OR n.period <> e.period
   LIMIT 1;
  IF FOUND THEN
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
  SELECT a.id, a.code, a.region_code, a.funding_source, a.balance_fen + s.delta AS after INTO bad
    FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
    JOIN account a ON a.id = s.account_id
   WHERE a.no_overdraft AND (a.balance_fen + s.delta) * a.normal_sign < 0
   ORDER BY a.id LIMIT 1;
  IF FOUND THEN
    IF bad.code = '3001' THEN
      RAISE EXCEPTION 'BUDGET_EXCEEDED: the budget of region % (%) cannot cover this',
        bad.region_code, bad.funding_source USING ERRCODE = '23514';
    END IF;
    RAISE EXCEPTION 'INSUFFICIENT_BALANCE: account % (%) would be overdrawn', bad.id, bad.code
      USING ERRCODE = '23514';
  END IF;
  UPDATE account a SET balance_fen = a.balance_fen + s.delta
    FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
   WHERE a.id = s.account_id;
  -- Queue the balance check again (book_head_entries_balanced): postings added after it ran
  -- (SET CONSTRAINTS ... IMMEDIATE) are checked too. Only the heads of the postings' own
  -- books, already this transaction's (the seal above: the entries are): another book's
  -- writers never wait on this one.
  UPDATE book_head SET last_seq = last_seq
   WHERE book IN (SELECT DISTINCT n.book FROM new_postings n);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS posting_apply ON posting;
CREATE TRIGGER posting_apply AFTER INSERT ON posting REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_apply();
