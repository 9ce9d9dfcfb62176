-- The journal's row-level checks (migration ledger_0002): every new entry locks the book's
-- head, continues the sequence and the hash chain, is dated between the previous entry and now,
-- in the month of its date and not in a closed period; at COMMIT each entry has at least two
-- postings summing to zero per currency. Replaced by the per-statement checks of
-- journal_setwise_checks.sql (ledger_0120), which drops these triggers but keeps the functions
-- for its downgrade.

-- Every new entry takes the book's head row lock (this also serialises all writers, so the
-- balance updates never deadlock), must continue the sequence and the hash chain, must be
-- dated now-ish and never before the previous entry, and not in a closed period.
CREATE OR REPLACE FUNCTION ledger_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  h book_head%ROWTYPE;
BEGIN
  SELECT * INTO h FROM book_head WHERE book = NEW.book FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'UNKNOWN_BOOK: no book %', NEW.book USING ERRCODE = '23503';
  END IF;
  IF NEW.seq IS DISTINCT FROM h.last_seq + 1 THEN
    RAISE EXCEPTION 'CHAIN_SEQUENCE_GAP: entry seq % does not follow %', NEW.seq, h.last_seq
      USING ERRCODE = '23514';
  END IF;
  IF NEW.prev_hash IS DISTINCT FROM h.last_hash THEN
    RAISE EXCEPTION 'CHAIN_FORK: entry % does not continue the hash chain', NEW.seq
      USING ERRCODE = '23514';
  END IF;
  IF NEW.posted_at < h.last_posted_at OR NEW.posted_at > clock_timestamp() THEN
    RAISE EXCEPTION 'POSTED_AT_INVALID: an entry is dated between the previous entry and now'
      USING ERRCODE = '23514';
  END IF;
  IF NEW.period IS DISTINCT FROM to_char(NEW.posted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') THEN
    RAISE EXCEPTION 'PERIOD_MISMATCH: the period must be the month of posted_at'
      USING ERRCODE = '23514';
  END IF;
  IF EXISTS (SELECT 1 FROM accounting_period p WHERE p.period = NEW.period) THEN
    RAISE EXCEPTION 'PERIOD_CLOSED: period % is closed', NEW.period USING ERRCODE = '23514';
  END IF;
  NEW.txid := txid_current();
  UPDATE book_head SET last_seq = NEW.seq, last_hash = NEW.hash, last_posted_at = NEW.posted_at
   WHERE book = NEW.book;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS entry_chain ON entry;
CREATE TRIGGER entry_chain BEFORE INSERT ON entry FOR EACH ROW EXECUTE FUNCTION ledger_entry_chain();

-- Checked once per entry at COMMIT, when all its postings are in.
CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  unbalanced text;
BEGIN
  SELECT count(*) INTO n FROM posting WHERE entry_id = NEW.id;
  IF n < 2 THEN
    RAISE EXCEPTION 'ENTRY_TOO_FEW_POSTINGS: entry % has % postings; at least 2 are needed',
      NEW.seq, n USING ERRCODE = '23514';
  END IF;
  SELECT string_agg(currency || ' ' || total, ', ') INTO unbalanced
    FROM (SELECT currency, sum(amount_fen) AS total FROM posting WHERE entry_id = NEW.id
           GROUP BY currency HAVING sum(amount_fen) <> 0) s;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ENTRY_UNBALANCED: entry % does not sum to zero (%)', NEW.seq, unbalanced
      USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS entry_balanced ON entry;
CREATE CONSTRAINT TRIGGER entry_balanced AFTER INSERT ON entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();
