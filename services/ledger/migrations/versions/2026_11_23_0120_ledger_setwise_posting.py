"""set-wise journal triggers: chain, balance and references checked once per statement

Revision ID: ledger_0120
Revises: ledger_0111
Create Date: 2026-11-23

The same invariants as ledger_0002, checked per statement instead of per row, so that a
batch of thousands of entries costs a handful of set queries (docs/performance.md, "Relay"):

- **Chain** (`entry_chain_set`, AFTER INSERT ... FOR EACH STATEMENT over the new rows): locks
  the book's head, then requires the statement's entries, in seq order, to continue the
  sequence without a gap (`CHAIN_SEQUENCE_GAP`) and the hash chain without a fork
  (`CHAIN_FORK`: each prev_hash is the hash of the entry before, the first one the head's),
  to be dated between the previous entry and now (`POSTED_AT_INVALID`), in the month of
  their date (`PERIOD_MISMATCH`) and not in a closed period (`PERIOD_CLOSED`); then it moves
  the head once, to the last of them. The first bad entry (lowest seq) is the one named. An
  entry's txid is the database's own (the column default); a statement that sets another is
  refused (`ENTRY_SEALED`) where the row trigger used to overwrite it.
- **Balanced entries** (`book_head_entries_balanced`, a DEFERRABLE INITIALLY DEFERRED
  constraint trigger on the head's UPDATE): every INSERT on entry moves the head (the chain
  trigger) and every INSERT on posting touches it (the posting trigger), and each such
  UPDATE queues a check, run at COMMIT, of all the entries of the transaction (the top of
  the chain down to the first entry of another transaction): at least two postings each
  (`ENTRY_TOO_FEW_POSTINGS`) and a zero sum per currency (`ENTRY_UNBALANCED`), the lowest bad
  seq named. Because posting inserts queue it too, a posting added after the check already
  ran (SET CONSTRAINTS ALL IMMEDIATE, then one more posting) is checked as well: under
  ledger_0002's per-entry trigger it was not, and an unbalanced entry could be committed.
- **References** of postings: the posting statement trigger, which already joined every new
  posting to its entry (sealed: same transaction, same seq, date and period), now also
  refuses a posting whose account does not exist (`UNKNOWN_ACCOUNT`), in the same pass; the
  per-row foreign keys posting -> entry and posting -> account, which checked the same
  thing one row at a time, are dropped. Entries and accounts are never deleted or re-keyed
  (JOURNAL_IMMUTABLE, DERIVED_ROW), so a reference checked at insert stays valid.

ledger_0002's row functions (ledger_entry_chain, ledger_entry_balanced) stay defined, unused,
for the downgrade, which puts the row triggers and the foreign keys back.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0120"
down_revision: str | None = "ledger_0111"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
DROP TRIGGER entry_chain ON entry;
DROP TRIGGER entry_balanced ON entry;
ALTER TABLE posting DROP CONSTRAINT posting_entry_id_fkey;
ALTER TABLE posting DROP CONSTRAINT posting_account_id_fkey;

CREATE FUNCTION ledger_entry_chain_set() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER entry_chain_set AFTER INSERT ON entry REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_chain_set();

-- Queued by every UPDATE of the head: each INSERT on entry moves it, each INSERT on posting
-- touches it. Run at COMMIT (or at SET CONSTRAINTS ... IMMEDIATE) over all the entries of
-- this transaction: the top of the chain, back to the first entry of another transaction (the
-- head is locked from this transaction's first entry to its COMMIT, so they are contiguous).
CREATE FUNCTION ledger_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE CONSTRAINT TRIGGER book_head_entries_balanced AFTER UPDATE ON book_head
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entries_balanced();

-- Once per INSERT statement: postings belong to an entry of this transaction and repeat its
-- seq/date/period, and to an existing account in its currency; no-overdraft accounts stay on
-- their side of zero; balances move.
CREATE OR REPLACE FUNCTION ledger_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.entry_id, e.seq INTO bad
    FROM new_postings n LEFT JOIN entry e ON e.id = n.entry_id
   WHERE e.id IS NULL OR e.txid <> txid_current() OR n.seq <> e.seq
      OR n.posted_at <> e.posted_at OR n.period <> e.period
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
  -- (SET CONSTRAINTS ... IMMEDIATE) are checked too. The head is already this
  -- transaction's (the seal above: the entries are), and there is one book.
  UPDATE book_head SET last_seq = last_seq;
  RETURN NULL;
END $$;
"""

# ledger_0002's row-level triggers, function bodies and foreign keys, as they were.
DOWNGRADE = r"""
DROP TRIGGER book_head_entries_balanced ON book_head;
DROP TRIGGER entry_chain_set ON entry;
DROP FUNCTION ledger_entries_balanced();
DROP FUNCTION ledger_entry_chain_set();

CREATE OR REPLACE FUNCTION ledger_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.entry_id, e.seq INTO bad
    FROM new_postings n LEFT JOIN entry e ON e.id = n.entry_id
   WHERE e.id IS NULL OR e.txid <> txid_current() OR n.seq <> e.seq
      OR n.posted_at <> e.posted_at OR n.period <> e.period
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ENTRY_SEALED: postings may only be added to an entry in the transaction that created it'
      USING ERRCODE = '23514';
  END IF;
  SELECT a.id, a.code, a.currency, n.currency AS posting_currency INTO bad
    FROM new_postings n JOIN account a ON a.id = n.account_id
   WHERE a.currency <> n.currency LIMIT 1;
  IF FOUND THEN
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
  RETURN NULL;
END $$;

ALTER TABLE posting ADD CONSTRAINT posting_entry_id_fkey
  FOREIGN KEY (entry_id) REFERENCES entry (id);
ALTER TABLE posting ADD CONSTRAINT posting_account_id_fkey
  FOREIGN KEY (account_id) REFERENCES account (id);
CREATE TRIGGER entry_chain BEFORE INSERT ON entry FOR EACH ROW EXECUTE FUNCTION ledger_entry_chain();
CREATE CONSTRAINT TRIGGER entry_balanced AFTER INSERT ON entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
