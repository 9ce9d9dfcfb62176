"""Civil-affairs officer: a provider's credit record (信用记录) -- the warnings, violations and
sanctions recorded on it (by hand, or by an officer confirming an anomaly alert, whose
recovery is docs/anomalies.md), its points against the suspension threshold -- as a page and
as CSV/XLSX. The provider service decides who may read it: a provider of another region is
"not found"."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from services.common.export import MEDIA, table_file
from web.clients import ApiError
from web.deps import DbSession, StateDep, provider_client, require_role
from web.labels import BEIJING, label, local_time
from web.render import page
from web.service.accounts import person_names
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
_ID = re.compile(r"^[0-9a-f-]{36}$")
COLUMNS = ("记录时间（北京时间）", "类别", "扣分", "来源", "原因", "记录人")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def shown(event: dict[str, Any]) -> dict[str, Any]:
    """An event as people read it: where it came from (an officer confirming an anomaly
    alert -- its recovery follows, docs/anomalies.md -- or recorded by hand), the alert it
    names (for a link), and the reason with ids shortened to their last 8 characters."""
    reason = str(event.get("reason") or "")
    alert = _UUID.search(reason) if reason.startswith("异常预警") else None
    return {
        **event,
        "source": "异常预警核实（追回补贴）" if alert else "人工登记",
        "alert_id": alert.group(0) if alert else None,
        "reason_text": _UUID.sub(lambda m: "尾号 " + m.group(0)[-8:], reason),
    }


async def _record(
    web: Any, session: Session, provider_id: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, ApiError | None]:
    client = provider_client(web, session)
    try:
        return await client.get(provider_id), await client.credit(provider_id), None
    except ApiError as exc:
        return None, None, exc
    finally:
        await client.aclose()


def _refused(request: Request, session: Session, exc: ApiError) -> HTMLResponse:
    if exc.page_status in (403, 404):
        message = "没有找到这家机构（或不在您负责的范围内）。"
        return page(request, "error.html", session, status_code=404, message=message)
    return page(request, "error.html", session, status_code=exc.page_status, message=exc.friendly)


async def _actors(db: Any, events: list[dict[str, Any]]) -> dict[str, str]:
    """The officers' names for the `actor` of each event (an account of this web)."""
    return await person_names(db, {e.get("actor") for e in events})


@router.get("/providers/{provider_id}/credit", response_class=HTMLResponse)
async def credit(
    request: Request, provider_id: str, web: StateDep, db: DbSession, session: Session = OFFICER
) -> HTMLResponse:
    """The provider's credit record: points against the threshold, every event newest
    first, with the export links."""
    if not _ID.match(provider_id):
        return page(request, "error.html", session, status_code=404, message="没有这家机构。")
    provider, record, exc = await _record(web, session, provider_id)
    if exc is not None or provider is None or record is None:
        assert exc is not None
        return _refused(request, session, exc)
    events = [
        shown(e) for e in sorted(record["events"], key=lambda e: e["recorded_at"], reverse=True)
    ]
    return page(
        request,
        "officer_provider_credit.html",
        session,
        provider=provider,
        record=record,
        events=events,
        actors=await _actors(db, events),
    )


@router.get("/providers/{provider_id}/credit/export")
async def credit_export(
    request: Request,
    provider_id: str,
    web: StateDep,
    db: DbSession,
    session: Session = OFFICER,
    format: str = "csv",
) -> Response:
    """The credit record as CSV (UTF-8 with BOM, for Excel) or XLSX: Beijing times, Chinese
    labels, the officer's name."""
    fmt = format if format in ("csv", "xlsx") else "csv"
    if not _ID.match(provider_id):
        return page(request, "error.html", session, status_code=404, message="没有这家机构。")
    provider, record, exc = await _record(web, session, provider_id)
    if exc is not None or provider is None or record is None:
        assert exc is not None
        return _refused(request, session, exc)
    events = [
        shown(e) for e in sorted(record["events"], key=lambda e: e["recorded_at"], reverse=True)
    ]
    actors = await _actors(db, events)
    rows = [
        (
            local_time(e["recorded_at"], "%Y-%m-%d %H:%M:%S"),
            label(e["kind"], "credit_kind"),
            int(e["points"]),
            e["source"],
            e["reason_text"],
            actors.get(e["actor"]) or e["actor"],
        )
        for e in events
    ]
    stamp = datetime.now(BEIJING).strftime("%Y%m%d-%H%M")
    return Response(
        table_file(fmt, f"{provider.get('name', '')}信用记录", COLUMNS, rows),
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="credit-{stamp}.{fmt}"'},
    )
