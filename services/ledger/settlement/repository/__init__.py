"""All SQL of settlement, one module per area (claims, copay, batches, cash_benefits,
reconciliation, reports): SQLAlchemy statements on the SQLModel tables, run on the caller's
AsyncSession, returning the table classes or small frozen dataclasses declared beside the
queries. The pieces every area's statements share are here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, any_, bindparam, exists, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlalchemy.types import Text
from sqlmodel import col

from services.ledger.models import Account, Entry, Posting
from services.ledger.settlement.models import Claim


def any_of(values: Sequence[Any], type_: Any = Text) -> Any:
    """`= ANY($n::type[])`: one array parameter however many values (an IN list takes a
    parameter each, and PostgreSQL allows 32,767 per statement)."""
    return any_(bindparam(None, list(values), type_=ARRAY(type_)))


def on_account(code: str) -> Any:
    """Join condition: the posting's account, of chart code `code`."""
    return and_(col(Account.id) == col(Posting.account_id), col(Account.code) == code)


def is_reversed() -> Any:
    """The entry (`Entry`) has been reversed by another."""
    reversal = aliased(Entry)
    return exists().where(col(reversal.reverses_entry_id) == col(Entry.id))


RECOVERY_KINDS = ("redemption_recovery", "recovery_receivable")


def is_recovered_unclaimed() -> Any:
    """The redemption entry (`Entry`) was taken back before any claim (a
    `redemption_recovery` entry of the same redemption): never claimable again."""
    recovery = aliased(Entry)
    return exists().where(
        col(recovery.kind) == "redemption_recovery", col(recovery.ref) == col(Entry.ref)
    )


def region_within(column: Any, prefix: str) -> Any:
    """A region code column within the region of `prefix` (its significant digits)."""
    return col(column).startswith(prefix)


def claim_regions_within(prefix: str) -> Any:
    """Some region of the claim (`Claim`) lies within the prefix."""
    region = func.unnest(col(Claim.region_codes)).column_valued("r")
    return exists(select(literal(1)).where(region.startswith(prefix)))
