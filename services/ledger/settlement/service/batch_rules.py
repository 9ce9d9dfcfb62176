"""Rules of payment batches (pure; docs/settlement.md, "Payment batches").

- A batch takes approved claims the officer's scope covers whose regions all lie within the
  batch's region; asked-for claims that are not so are refused, each named with its problem
  (`refuse_unpayable`).
- A batch's state reads from its lines: `pending` while any line waits for the bank, `paid`
  when every line is paid, `partly_failed` when the bank refused some (`batch_state`).
- Maker–checker: the finance officer who made a batch does not import its bank
  confirmation, which is what posts the payments; another officer does
  (`ensure_not_maker`, MAKER_CHECKER_VIOLATION as for claims).
- The list pages by a keyset cursor on creation time and id, so a batch made meanwhile
  neither repeats nor skips a row (`cursor_of`, `parse_cursor`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.common.auth import Principal
from services.common.errors import InvalidInput
from services.common.regions import region_covers
from services.ledger.settlement.errors import ClaimsNotPayable, MakerChecker
from services.ledger.settlement.repository.batches import ClaimToPay


def batch_state(pending: int, paid: int, failed: int) -> str:
    """`pending` while any line waits; `paid` when all are paid; else `partly_failed`."""
    if pending:
        return "pending"
    return "paid" if not failed else "partly_failed"


def covers_all(who: Principal, regions: Sequence[str]) -> bool:
    return all(who.covers_region(r) for r in regions)


def within(region_code: str, regions: Sequence[str]) -> bool:
    """Every one of `regions` lies within `region_code`."""
    return all(region_covers(region_code, r) for r in regions)


def payable(claim: ClaimToPay, who: Principal, region_code: str) -> bool:
    """An approved claim the officer covers, within the batch's region."""
    return (
        claim.status == "approved"
        and covers_all(who, claim.region_codes)
        and within(region_code, claim.region_codes)
    )


def refuse_unpayable(
    claim_ids: Sequence[uuid.UUID], found: Sequence[ClaimToPay], who: Principal
) -> None:
    """CLAIMS_NOT_PAYABLE naming each asked-for claim that is unknown to the officer
    (NOT_FOUND) or not approved (its status)."""
    by_id = {c.id: c for c in found}
    problems = []
    for cid in claim_ids:
        c = by_id.get(cid)
        if c is None or not covers_all(who, c.region_codes):
            problems.append({"claim_id": str(cid), "problem": "NOT_FOUND"})
        elif c.status != "approved":
            problems.append({"claim_id": str(cid), "problem": c.status.upper()})
    if problems:
        raise ClaimsNotPayable(field="claim_ids", details={"claims": problems})


def ensure_not_maker(created_by: str, who: Principal) -> None:
    """The one who made the batch may not confirm it (403 MAKER_CHECKER_VIOLATION)."""
    if who.sub == created_by:
        raise MakerChecker(
            "The finance officer who made a payment batch may not import its bank "
            "confirmation; another finance officer does.",
            field="batch_id",
        )


def cursor_of(created_at: datetime, batch_id: uuid.UUID) -> str:
    return f"{created_at.isoformat()}_{batch_id}"


def parse_cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not value:
        return None
    try:
        at, _, ident = value.rpartition("_")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError:
        raise InvalidInput("The cursor is not one this list gave.", field="cursor") from None
