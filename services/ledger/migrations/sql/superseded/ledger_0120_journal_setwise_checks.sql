-- The journal's checks once per statement (migration ledger_0120): the chain over all the
-- entries an INSERT writes, and at COMMIT the balance of every entry of the transaction.
-- See the docstring of ledger_0120 and docs/ledger.md.

CREATE OR REPLACE FUNCTION ledger_entry_chain_set() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b record;
  h book_head%ROWTYPE;
  bad record;
  last_entry record;
BEGIN
  FOR b IN SELECT DISTINCT book FROM new_entries ORDER BY book LOOP
    SELECT * INTO h FROM book_head WHERE book = b.book FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'UNKNOWN_BOOK: no book %', b.book USING ERRCODE = '23503';
    END IF;
    -- The first entry (in seq order) that breaks a rule, with the rule it breaks first.
    SELECT c.seq, c.expected_seq, c.period,
           c.seq <> c.expected_seq AS gap,
           c.prev_hash IS DISTINCT FROM coalesce(c.prior_hash, h.last_hash) AS fork,
           (c.posted_at < coalesce(c.prior_posted_at, h.last_posted_at)
            OR c.posted_at > clock_timestamp()) AS misdated,
           c.period IS DISTINCT FROM to_char(c.posted_at AT TIME ZONE 'Asia/Shanghai',
                                             'YYYY-MM') AS wrong_period,
           EXISTS (SELECT 1 FROM accounting_period p WHERE p.period = c.period) AS closed,
           c.txid IS DISTINCT FROM txid_current() AS foreign_txid
      INTO bad
      FROM (SELECT e.seq, e.prev_hash, e.posted_at, e.period, e.txid,
                   h.last_seq + row_number() OVER w AS expected_seq,
                   lag(e.hash) OVER w AS prior_hash,
                   lag(e.posted_at) OVER w AS prior_posted_at
              FROM new_entries e WHERE e.book = b.book
            WINDOW w AS (ORDER BY e.seq)) c
     WHERE c.seq <> c.expected_seq
        OR c.prev_hash IS DISTINCT FROM coalesce(c.prior_hash, h.last_hash)
        OR c.posted_at < coalesce(c.prior_posted_at, h.last_posted_at)
        OR c.posted_at > clock_timestamp()
        OR c.period IS DISTINCT FROM to_char(c.posted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')
        OR EXISTS (SELECT 1 FROM accounting_period p WHERE p.period = c.period)
        OR c.txid IS DISTINCT FROM txid_current()
     ORDER BY c.seq LIMIT 1;
    IF FOUND THEN
      IF bad.gap THEN
        RAISE EXCEPTION 'CHAIN_SEQUENCE_GAP: entry seq % does not follow %', bad.seq,
          bad.expected_seq - 1 USING ERRCODE = '23514';
      ELSIF bad.fork THEN
        RAISE EXCEPTION 'CHAIN_FORK: entry % does not continue the hash chain', bad.seq
          USING ERRCODE = '23514';
      ELSIF bad.misdated THEN
        RAISE EXCEPTION 'POSTED_AT_INVALID: an entry is dated between the previous entry and now'
          USING ERRCODE = '23514';
      ELSIF bad.wrong_period THEN
        RAISE EXCEPTION 'PERIOD_MISMATCH: the period must be the month of posted_at'
          USING ERRCODE = '23514';
      ELSIF bad.closed THEN
        RAISE EXCEPTION 'PERIOD_CLOSED: period % is closed', bad.period USING ERRCODE = '23514';
      ELSE
        RAISE EXCEPTION 'ENTRY_SEALED: an entry''s txid is set by the database'
          USING ERRCODE = '23514';
      END IF;
    END IF;
    SELECT e.seq, e.hash, e.posted_at INTO last_entry
      FROM new_entries e WHERE e.book = b.book ORDER BY e.seq DESC LIMIT 1;
    UPDATE book_head SET last_seq = last_entry.seq, last_hash = last_entry.hash,
                         last_posted_at = last_entry.posted_at
     WHERE book = b.book;
  END LOOP;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS entry_chain_set ON entry;
CREATE TRIGGER entry_chain_set AFTER INSERT ON entry REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_chain_set();

-- Queued by every UPDATE of the head: each INSERT on entry moves it, each INSERT on posting
-- touches it. Run at COMMIT (or at SET CONSTRAINTS ... IMMEDIATE) over all the entries of
-- this transaction: the top of the chain, back to the first entry of another transaction (the
-- head is locked from this transaction's first entry to its COMMIT, so they are contiguous).
CREATE OR REPLACE FUNCTION ledger_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  lo bigint;
  bad record;
BEGIN
  SELECT e.seq INTO lo FROM entry e
   WHERE e.book = NEW.book AND e.seq <= NEW.last_seq AND e.txid <> txid_current()
   ORDER BY e.seq DESC LIMIT 1;
  lo := coalesce(lo, 0);
  IF lo >= NEW.last_seq THEN
    RETURN NULL;
  END IF;
  SELECT e.seq, count(p.line) AS n INTO bad
    FROM entry e LEFT JOIN posting p ON p.entry_id = e.id
   WHERE e.book = NEW.book AND e.seq > lo AND e.seq <= NEW.last_seq
   GROUP BY e.seq HAVING count(p.line) < 2
   ORDER BY e.seq LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ENTRY_TOO_FEW_POSTINGS: entry % has % postings; at least 2 are needed',
      bad.seq, bad.n USING ERRCODE = '23514';
  END IF;
  SELECT s.seq, string_agg(s.currency || ' ' || s.total, ', ' ORDER BY s.currency) AS totals
    INTO bad
    FROM (SELECT e.seq, p.currency, sum(p.amount_fen) AS total
            FROM entry e JOIN posting p ON p.entry_id = e.id
           WHERE e.book = NEW.book AND e.seq > lo AND e.seq <= NEW.last_seq
           GROUP BY e.seq, p.currency HAVING sum(p.amount_fen) <> 0) s
   GROUP BY s.seq ORDER BY s.seq LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ENTRY_UNBALANCED: entry % does not sum to zero (%)', bad.seq, bad.totals
      USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS book_head_entries_balanced ON book_head;
CREATE CONSTRAINT TRIGGER book_head_entries_balanced AFTER UPDATE ON book_head
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entries_balanced();
