-- Once per INSERT statement on ledger_event (migration ledger_1102): an event recorded with an
-- entry names an entry that exists. It stands in for the foreign key ledger_event → entry,
-- which checked (and locked) the entry row by row; entries are never deleted, so a reference
-- checked at insert stays valid.

CREATE OR REPLACE FUNCTION ledger_event_entry_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad uuid;
BEGIN
  SELECT n.entry_id INTO bad
    FROM new_events n LEFT JOIN entry e ON e.id = n.entry_id
   WHERE n.entry_id IS NOT NULL AND e.id IS NULL LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'UNKNOWN_ENTRY: no entry %', bad USING ERRCODE = '23503';
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ledger_event_entry_exists ON ledger_event;
CREATE TRIGGER ledger_event_entry_exists AFTER INSERT ON ledger_event
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_entry_exists();
