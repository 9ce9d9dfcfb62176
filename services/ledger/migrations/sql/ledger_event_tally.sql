-- Once per INSERT statement on ledger_event (migration ledger_1404): the events the statement
-- recorded, counted by type and outcome, appended to ledger_event_tally. `/v1/metrics` sums
-- the tally instead of counting the event log (a scan of every event ever received, millions
-- in a year). Appending, not updating a running total, keeps two books' batches apart: each
-- writes rows of its own, and no batch waits for another's commit. The transition table is
-- the one ledger_event_entry_exists reads already (PostgreSQL builds it once for both).
-- `fold_event_tally` sums the rows into one a (type, status) from time to time.

CREATE OR REPLACE FUNCTION ledger_event_tally_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_event_tally (type, status, n)
  SELECT type, status, count(*) FROM new_events GROUP BY type, status;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS ledger_event_tally ON ledger_event;
CREATE TRIGGER ledger_event_tally AFTER INSERT ON ledger_event
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_event_tally_add();
