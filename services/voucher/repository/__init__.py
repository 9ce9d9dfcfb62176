"""All SQL of the voucher service: one module per area."""
