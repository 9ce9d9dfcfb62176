"""Temporary bridge, to be deleted when the one-design branches merge (issue 13): migration
ledger_0110 still imports this path; the ledger branch makes it self-contained. The module
is services.ledger.settlement.service.secrets."""

from services.ledger.settlement.service.secrets import (
    bank_cipher,
    line_context,
    mask_number,
    open_file,
    seal_file,
)

__all__ = ["bank_cipher", "line_context", "mask_number", "open_file", "seal_file"]
