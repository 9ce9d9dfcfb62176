"""Tables of the voucher service (its own database). Rules live in service.py, SQL in repository.py."""

from __future__ import annotations

from sqlmodel import SQLModel

from services.common.db import make_registry

registry = make_registry()
metadata = registry.metadata


class VoucherTable(SQLModel, registry=registry):
    """Base of every table of this service (keeps them out of the other services' metadata)."""


# Tables whose rows are never updated or deleted: the service's role gets SELECT and INSERT only.
APPEND_ONLY_TABLES: list[str] = []
