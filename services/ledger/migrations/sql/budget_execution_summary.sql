-- Budget execution kept as the budget moves (docs/dashboard.md "Budget figures"): the sum of
-- the postings to budget available (3001) per account and entry kind, for the kinds the
-- dashboard shows apart: appropriation, commitment (issuance), expiry (released), and the
-- reversal of an appropriation (the only entry a reversal may mirror that moves 3001: the
-- figures net it from what was appropriated; ledger_1406).
-- A deferred row trigger on `entry` whose WHEN clause names only those kinds: at COMMIT it
-- sums the entry's postings to 3001 accounts (they are in the same transaction: a posting
-- may only be added to an entry of its own transaction). Redemptions, voids, settlements and
-- every other kind queue nothing: the hot posting path does no work for it. Spent and
-- available are the accounts' own balances (3002, 3001), already kept by the posting trigger.
CREATE OR REPLACE FUNCTION budget_execution_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO budget_execution AS s (account_id, kind, amount_fen)
  SELECT p.account_id, NEW.kind, sum(p.amount_fen)
    FROM posting p JOIN account a ON a.id = p.account_id
   WHERE p.entry_id = NEW.id AND a.code = '3001'
   GROUP BY p.account_id ORDER BY p.account_id
  ON CONFLICT (account_id, kind) DO UPDATE SET amount_fen = s.amount_fen + EXCLUDED.amount_fen;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS budget_execution_entry ON entry;
CREATE CONSTRAINT TRIGGER budget_execution_entry AFTER INSERT ON entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.kind IN ('appropriation', 'commitment', 'expiry', 'reversal'))
  EXECUTE FUNCTION budget_execution_add();
