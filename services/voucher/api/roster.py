"""Route: the officer's roster of people (search, pages, CSV/XLSX export)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.common import export
from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.common.regions import region_name
from services.voucher.api.deps import CipherDep
from services.voucher.repository import roster as repo
from services.voucher.schemas.roster import RosterPage
from services.voucher.service import roster
from services.voucher.service.periods import tz

router = APIRouter(tags=["beneficiaries"])


@router.get(
    "/beneficiaries",
    response_model=RosterPage,
    responses={200: {"content": {export.CSV_MEDIA: {}, export.XLSX_MEDIA: {}}}},
)
async def list_beneficiaries(
    session: SessionDep,
    cipher: CipherDep,
    q: Annotated[str | None, Query(max_length=40)] = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    status: str | None = None,
    grade: Annotated[int | None, Query(ge=0, le=4)] = None,
    care_setting: Literal["home", "community", "institution"] | None = None,
    program_code: Annotated[str | None, Query(max_length=40)] = None,
    reassessment_due: bool = False,
    sort: Literal["name", "created_at"] = "name",
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    format: Literal["json", "csv", "xlsx"] = "json",
    principal: Principal = require(Role.civil_affairs),
) -> RosterPage | Response:
    """The roster of the officer's region (or `region_code` inside it, sub-regions
    included): `q` is part of a name or the last 4 characters of the national ID or the
    phone; `status` the current state (active, hospitalised, suspended, moved, exited,
    deceased); `grade`, `care_setting`; `program_code` people with a voucher or cash benefit
    of it this month; `reassessment_due` the assessment lapses within 60 days (or has).
    Sorted by name (or `created_at`, newest first), `limit` a page, `next_cursor` for the
    next. `format=csv|xlsx` exports every match instead (personal data masked)."""
    today = datetime.now(tz()).date()
    query = roster.RosterQuery(
        q=q,
        region_code=region_code,
        status=status,
        grade=grade,
        care_setting=care_setting,
        program_code=program_code,
        reassessment_due=reassessment_due,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    f = roster.to_filter(
        query,
        scope=principal.region,
        covers_region=principal.covers_region,
        today=today,
        program_is_cash=await roster.program_is_cash(session, program_code),
    )
    if format == "json":
        return await roster.page(session, f, query, cipher)
    rows = await repo.search(session, f, sort=sort, after=None, limit=roster.EXPORT_LIMIT)
    return export.attachment(
        format,
        "老年人名册",
        roster.EXPORT_COLUMNS,
        roster.export_rows(rows, cipher, today, region_name),
        f"roster-{today}",
    )
