"""Load tests and the benchmark of the redemption hot path (see docs/performance.md)."""
