"""The auditor's page of the account log: sign-ins, failures, locks, sign-outs, password and
two-factor changes, administrators' actions. Newest first, filtered by account and date,
exported as CSV or Excel (services.common.export, formula-safe cells)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from services.common.export import MEDIA, table_file
from services.common.regions import significant_prefix
from web.deps import DbSession, StateDep, WebState, client_address, require_role
from web.render import BEIJING, local_time, page
from web.repository.audit import AuditFilter
from web.service import audit
from web.sessions import Session

router = APIRouter(prefix="/audit")
AUDITOR = require_role(Role.auditor)
_USER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _filter(
    web: WebState, session: Session, user: str, start: str, end: str, before: str
) -> tuple[AuditFilter | None, str | None]:
    """The auditor's filter, or a message saying what is wrong with it. An auditor sees the
    accounts of their region; one whose scope is the whole province also sees failures for
    names that are no account at all."""
    user = user.strip().lower()
    if user and not _USER.match(user):
        return None, "账号名称格式不对。"
    try:
        since = _day_start(start) if start else None
        until = _day_start(end) + timedelta(days=1) if end else None
    except ValueError:
        return None, "日期请按 2026-11-23 这样填写。"
    prefix = significant_prefix(session.region or "")
    province = significant_prefix(web.common.province_code)
    return (
        AuditFilter(
            region_prefix=None if prefix == province else prefix,
            username=user or None,
            since=since,
            until=until,
            before_id=int(before) if before.isdigit() else None,
        ),
        None,
    )


def _day_start(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), time(0), tzinfo=BEIJING)


@router.get("/log", response_class=HTMLResponse)
async def log_page(
    request: Request,
    web: StateDep,
    db: DbSession,
    user: str = "",
    start: str = "",
    end: str = "",
    before: str = "",
    session: Session = AUDITOR,
) -> HTMLResponse:
    """The account log, newest first, a hundred events a page."""
    f, error = _filter(web, session, user, start, end, before)
    events = await audit.newest_first(db, f) if f is not None else []
    older = events[-1].id if len(events) == audit.PAGE_SIZE else None
    return page(
        request,
        "audit_log.html",
        session,
        events=events,
        names=audit.ACTION_NAMES,
        describe=audit.describe,
        error=error,
        filters={"user": user[:64], "start": start[:10], "end": end[:10]},
        older=older,
    )


@router.get("/log.{fmt}")
async def log_file(
    request: Request,
    web: StateDep,
    db: DbSession,
    fmt: str,
    user: str = "",
    start: str = "",
    end: str = "",
    session: Session = AUDITOR,
) -> Response:
    """The filtered log as a file (up to 50,000 events, newest first)."""
    if fmt not in MEDIA:
        return Response(
            "只能导出 CSV 或 Excel。", status_code=404, media_type="text/plain; charset=utf-8"
        )
    f, error = _filter(web, session, user, start, end, "")
    if f is None:
        return Response(error or "", status_code=422, media_type="text/plain; charset=utf-8")
    events = await audit.newest_first(db, f, limit=audit.EXPORT_LIMIT)
    columns, rows = audit.table(events, local_time)
    await audit.record(
        db,
        web.identity,
        "audit_exported",
        actor=session.username,
        subject=session.username,
        region=session.region,
        address=client_address(request),
        rows=len(rows),
    )
    stamp = datetime.now(BEIJING).strftime("%Y%m%d-%H%M")
    return Response(
        table_file(fmt, "账号日志", columns, rows),
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="account-log-{stamp}.{fmt}"'},
    )
