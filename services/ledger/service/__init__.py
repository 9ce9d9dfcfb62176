"""Rules of the ledger service (no FastAPI here): plans.py says what each event posts,
writes.py applies writes exactly once, audit.py answers auditors."""
