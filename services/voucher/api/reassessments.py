"""Routes: the reassessment due list and the quarterly spot reassessment draws."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from services.common import export
from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.common.regions import region_name
from services.voucher.api.deps import CipherDep
from services.voucher.config import VoucherSettings
from services.voucher.schemas.reassessments import DuePage, SpotDrawCreate, SpotDrawRead
from services.voucher.service import reassessments as service
from services.voucher.service.periods import tz

router = APIRouter(tags=["reassessments"])
OFFICER = Role.civil_affairs
FILES: dict[int | str, dict[str, Any]] = {
    200: {"content": {export.CSV_MEDIA: {}, export.XLSX_MEDIA: {}}}
}


def _today() -> date:
    return datetime.now(tz()).date()


def _settings(request: Request) -> VoucherSettings:
    settings: VoucherSettings = request.app.state.settings
    return settings


@router.get("/reassessments/due", response_model=DuePage, responses=FILES)
async def due(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    within_days: Annotated[int | None, Query(ge=0, le=366)] = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    format: Literal["json", "csv", "xlsx"] = "json",
    principal: Principal = require(OFFICER),
) -> DuePage | Response:
    """Who needs a reassessment: active people of the officer's region (or `region_code`
    inside it) whose assessment lapses within `within_days` (default
    `YIYANG_VOUCHER_REASSESSMENT_DUE_DAYS`, 60) or has lapsed (`lapsed`, negative
    `days_left`: issuance skips them), soonest first; `next_cursor` for the next page.
    `format=csv|xlsx` exports every one (national ID masked)."""
    region = service.scoped_region(region_code, principal.region, principal.covers_region)
    days = within_days if within_days is not None else _settings(request).reassessment_due_days
    today = _today()
    if format == "json":
        return await service.due_page(
            session,
            region=region,
            within_days=days,
            today=today,
            cursor=cursor,
            limit=limit,
            cipher=cipher,
        )
    rows = await service.due_all(session, region=region, within_days=days, today=today)
    return export.attachment(
        format,
        "待复评名单",
        service.DUE_COLUMNS,
        service.due_export_rows(rows, cipher, today, region_name),
        f"reassessment-due-{today}",
    )


@router.post("/spot-draws", response_model=SpotDrawRead, status_code=201)
async def draw(
    body: SpotDrawCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> SpotDrawRead:
    """Draw this quarter's (or `quarter`'s, not a future one) spot reassessments in the
    officer's region (or `region_code` inside it): `YIYANG_VOUCHER_SPOT_DRAW_SHARE_BP` of its
    active people, picked by HMAC-SHA256 of a seed the service draws and records, over
    region, quarter and person, so the same inputs always draw the same people
    (docs/lifecycle.md). Recorded with who and when (201). A region's quarter is drawn once:
    asking again answers the recorded draw (200, `recorded: true`), even when two ask at
    the same moment."""
    outcome = await service.run_draw(
        session,
        body,
        scope=principal.region,
        covers_region=principal.covers_region,
        today=_today(),
        default_share_bp=_settings(request).spot_draw_share_bp,
        who=principal.sub,
    )
    if outcome.recorded:
        response.status_code = 200
    members = await service.members(session, outcome.draw, cipher)
    return service.present_draw(outcome.draw, recorded=outcome.recorded, members=members)


@router.get("/spot-draws", response_model=list[SpotDrawRead])
async def list_draws(
    session: SessionDep,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    principal: Principal = require(OFFICER, Role.auditor),
) -> list[SpotDrawRead]:
    """The newest spot draws of the region (and the regions under it), without their people."""
    region = service.scoped_region(region_code, principal.region, principal.covers_region)
    return [service.present_draw(d) for d in await service.list_draws(session, region, limit)]


@router.get("/spot-draws/{draw_id}", response_model=SpotDrawRead, responses=FILES)
async def get_draw(
    draw_id: uuid.UUID,
    session: SessionDep,
    cipher: CipherDep,
    format: Literal["json", "csv", "xlsx"] = "json",
    principal: Principal = require(OFFICER, Role.auditor),
) -> SpotDrawRead | Response:
    """A draw and its people in draw order (national ID masked), each with the date of the
    assessment recorded since the draw, if any; `format=csv|xlsx` as a file. A draw of a
    region outside the caller's is SPOT_DRAW_NOT_FOUND."""
    found = await service.get_draw(session, draw_id, principal.covers_region)
    members = await service.members(session, found, cipher)
    if format == "json":
        return service.present_draw(found, members=members)
    return export.attachment(
        format,
        f"复评抽查 {found.quarter}",
        service.DRAW_COLUMNS,
        service.draw_export_rows(members, region_name),
        f"spot-draw-{found.region_code}-{found.quarter}",
    )
