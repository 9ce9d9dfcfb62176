"""Rules of the voucher service (no FastAPI, no SQL): one module per area."""
