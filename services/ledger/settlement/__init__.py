"""Settlement of the ledger: claims (maker-checker), payment batches, bank confirmations,
cash benefits paid to people, statements, reconciliation and aging. A package of the same
shape as a service: api/ (routes), service/ (orchestration and pure rules), repository/
(SQL), models.py, schemas.py, errors.py, clients.py. See docs/settlement.md."""
