"""Settlement of the ledger: claims (maker-checker), payment batches, statements,
reconciliation and aging. See docs/settlement.md."""
