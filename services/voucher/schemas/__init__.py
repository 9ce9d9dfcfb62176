"""Request and response shapes of the voucher service, one module per area."""
