"""All SQL of the ledger service: journal.py (writes, under the head lock), audit.py (reads)."""
