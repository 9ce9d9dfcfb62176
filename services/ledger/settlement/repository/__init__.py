"""All SQL of settlement, one module per area (claims, copay, batches, reconciliation,
reports): SQLAlchemy statements on the SQLModel tables, run on the caller's AsyncSession,
returning the table classes or small frozen dataclasses declared beside the queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text


def any_of(values: Sequence[Any], type_: Any = Text) -> Any:
    """`= ANY($n::type[])`: one array parameter however many values (an IN list takes a
    parameter each, and PostgreSQL allows 32,767 per statement)."""
    return any_(bindparam(None, list(values), type_=ARRAY(type_)))
