"""Rules of the ledger service (no FastAPI here): plans.py says what each event posts,
writes.py applies keyed writes exactly once, events.py applies outbox events
exactly once, audit.py answers auditors."""
