"""Journal entries: read them by every dimension (finance, auditors), reverse one (finance)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.common.types import PERIOD_PATTERN
from services.ledger.api.deps import (
    ERRORS,
    FINANCE_AUDITOR,
    FINANCE_ONLY,
    MAX_ID,
    AsOf,
    FileFormat,
    From,
    RegionQuery,
    To,
    answer,
    asked,
    aware,
    file_response,
    scope,
)
from services.ledger.errors import EntryNotFound, FilterNotSupported
from services.ledger.schemas import EntryPage, EntryRead, ReversalCreate, ReversalRead
from services.ledger.service import audit, exports, reversals
from services.ledger.service.chart import CHART

router = APIRouter()

ExternalID = Annotated[str | None, Query(min_length=1, max_length=64)]


def chart_code(value: str | None) -> str | None:
    """A chart code (`2201`) or name (`provider_payable`) as its code; 422 if neither."""
    if value is None or value in CHART:
        return value
    for spec in CHART.values():
        if spec.name == value:
            return spec.code
    raise FilterNotSupported("No account of the chart has this code or name.", field="account_code")


@router.get("/entries", responses=ERRORS, response_model=EntryPage)
async def get_entries(
    db: DatabaseDep,
    account: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    account_code: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    provider_id: ExternalID = None,
    beneficiary_id: ExternalID = None,
    voucher_id: ExternalID = None,
    program_code: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    region_code: RegionQuery = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    from_: From = None,
    to: To = None,
    as_of: AsOf = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}(-(main|[0-9]{4}))?$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    format: FileFormat = "json",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    p: Principal = FINANCE_AUDITOR,
) -> EntryPage | Response:
    """Journal entries with their postings, filtered by account and every dimension, in
    sequence order, keyset-paginated by `cursor`, from one snapshot. `account` is an account
    id; `account_code` a chart code or name (every account of it). `format=csv|xlsx` gives
    every matching entry (not a page) as a file, one row per posting. `order=desc`: newest
    first (the cursor then pages backwards). `as_of` (default: now)
    keeps only entries posted at or before it and is answered back: pass the same `as_of`
    with every `cursor` (and to the trial balance) and the pages describe one moment. A
    combination that can only be empty by construction is refused with 422
    FILTER_NOT_SUPPORTED."""
    prefix = asked(p, region_code)
    acct = None
    if account is not None:
        acct = await audit.load_account(db, account)
        p.ensure_region(acct.region_code)
    filters = {
        k: v
        for k, v in (
            ("provider_id", provider_id),
            ("beneficiary_id", beneficiary_id),
            ("voucher_id", voucher_id),
            ("program_code", program_code),
        )
        if v is not None
    }
    code = chart_code(account_code)
    if acct is not None and code is not None and acct.code != code:
        raise FilterNotSupported("The account is not of this chart code.", field="account_code")
    page = await audit.entries(
        db,
        region_prefix=prefix,
        account=acct,
        account_code=code,
        whole=format != "json",
        newest_first=order == "desc",
        filters=filters,
        period=period,
        start=aware(from_),
        end=aware(to),
        as_of=aware(as_of),
        after_seq=audit.parse_cursor(cursor),
        limit=limit,
    )
    if format == "json":
        return page
    return file_response(exports.journal_table(format, page.entries), format, "entries")


@router.get("/entries/{entry_id}", responses=ERRORS)
async def get_entry(
    entry_id: uuid.UUID, db: DatabaseDep, p: Principal = FINANCE_AUDITOR
) -> EntryRead:
    """One journal entry with its postings."""
    scope(p)
    found = await audit.entry(db, entry_id)
    if found is None:
        raise EntryNotFound(field="entry_id")
    p.ensure_region(found.region_code)
    return found


@router.post(
    "/entries/{entry_id}/reverse", status_code=201, response_model=ReversalRead, responses=ERRORS
)
async def reverse_entry(
    entry_id: uuid.UUID, body: ReversalCreate, db: DatabaseDep, p: Principal = FINANCE_ONLY
) -> JSONResponse:
    """Correct an entry by a reversing entry (each entry is reversed at most once)."""
    scope(p)
    return answer(await reversals.reverse_entry(db, entry_id, body, p.sub, p.ensure_region))
