-- Books and the root chain (migration ledger_0601; docs/ledger.md "Books and the root chain").
-- A book's head opens empty (seq 0, 32 zero bytes), like an account opens with a zero balance:
-- a chain can only be continued by entries, never started part-way. The root chain's anchors
-- are append-only and each continues the one before it.

CREATE OR REPLACE FUNCTION ledger_book_opens_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.last_seq <> 0 OR NEW.last_hash <> decode(repeat('00', 32), 'hex')
     OR NEW.last_posted_at <> '-infinity' THEN
    RAISE EXCEPTION 'DERIVED_ROW: a book opens empty' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS book_head_opens_empty ON book_head;
CREATE TRIGGER book_head_opens_empty BEFORE INSERT ON book_head
  FOR EACH ROW EXECUTE FUNCTION ledger_book_opens_empty();

-- An anchor continues the root chain: seq is the last one's + 1 (the primary key stops two
-- from taking the same), prev_hash the last one's hash (the first: 32 zero bytes), dated not
-- before it and not in the future; each book's seq never goes back and never passes its head.
CREATE OR REPLACE FUNCTION ledger_root_anchor_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last root_anchor%ROWTYPE;
  bad record;
BEGIN
  SELECT * INTO last FROM root_anchor ORDER BY seq DESC LIMIT 1;
  IF NOT FOUND THEN
    last.seq := 0;
    last.hash := decode(repeat('00', 32), 'hex');
    last.anchored_at := '-infinity';
    last.heads := '[]';
  END IF;
  IF NEW.seq IS DISTINCT FROM last.seq + 1 THEN
    RAISE EXCEPTION 'CHAIN_SEQUENCE_GAP: anchor seq % does not follow %', NEW.seq, last.seq
      USING ERRCODE = '23514';
  END IF;
  IF NEW.prev_hash IS DISTINCT FROM last.hash THEN
    RAISE EXCEPTION 'CHAIN_FORK: anchor % does not continue the root chain', NEW.seq
      USING ERRCODE = '23514';
  END IF;
  IF NEW.anchored_at < last.anchored_at OR NEW.anchored_at > clock_timestamp() THEN
    RAISE EXCEPTION 'POSTED_AT_INVALID: an anchor is dated between the previous one and now'
      USING ERRCODE = '23514';
  END IF;
  SELECT n.book INTO bad
    FROM jsonb_to_recordset(NEW.heads) AS n(book text, seq bigint, hash text)
    LEFT JOIN jsonb_to_recordset(last.heads) AS o(book text, seq bigint, hash text)
      ON o.book = n.book
    LEFT JOIN book_head h ON h.book = n.book
   WHERE h.book IS NULL OR n.seq < coalesce(o.seq, 0) OR n.seq > h.last_seq
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'CHAIN_FORK: anchor % states book % beyond or behind its chain', NEW.seq,
      bad.book USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS root_anchor_chain ON root_anchor;
CREATE TRIGGER root_anchor_chain BEFORE INSERT ON root_anchor
  FOR EACH ROW EXECUTE FUNCTION ledger_root_anchor_chain();
DROP TRIGGER IF EXISTS root_anchor_immutable ON root_anchor;
CREATE TRIGGER root_anchor_immutable BEFORE UPDATE OR DELETE ON root_anchor
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS root_anchor_no_truncate ON root_anchor;
CREATE TRIGGER root_anchor_no_truncate BEFORE TRUNCATE ON root_anchor
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
