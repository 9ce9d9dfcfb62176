"""Rules and orchestration of the ledger service (no FastAPI here).

Pure rules (no I/O, no database; tested without one):
- `chart.py`: the chart of accounts (codes, nature, dimensions, which may not be overdrawn);
- `plans.py`: what each accounting event posts (balanced entries by construction);
- `hashing.py`: the canonical bytes of an entry and the hash chain over them.

Orchestration, one module per area:
- `events.py`: outbox events from the voucher service, applied exactly once (the hot path:
  repository/posting.py on the raw pool);
- `idempotency.py`: keyed writes, each exactly once, one unit of work per attempt;
- `budget.py`: appropriations, commitments and the budget available;
- `reversals.py`, `periods.py`: corrections and closing a period;
- `audit.py`: trial balance, entries, statements and metrics, each one snapshot;
- `chain.py`: recomputing the hash chain.
"""
