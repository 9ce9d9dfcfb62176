"""An officer's imports: people to enrol (`/officer/import`) and deaths and hospital stays
(`/officer/status-import`). The upload starts a job that runs in the background part by part
(web/service/imports.py) and answers at once with the job's page, which shows its progress,
refreshes itself while it runs and can be left: the upload page lists the officer's recent
imports to come back to, and the job page shows every row's result at the end."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from services.common.export import MEDIA
from web.clients import ApiError, VoucherClient
from web.deps import CsrfSession, DbSession, StateDep, require_role, voucher_client
from web.messages import FRIENDLY
from web.models import ImportJob
from web.render import page
from web.repository import import_jobs as repo
from web.routes.officer import officer_only
from web.service import imports
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
MAX_UPLOAD = 5 * 1024 * 1024
_JOB_ID = re.compile(r"^[0-9a-f-]{36}$")


@dataclass(frozen=True, slots=True)
class Kind:
    template: str
    path: str
    send: Any  # VoucherClient.import_file / .status_import
    statuses: dict[str, str]


KINDS = {
    "beneficiaries": Kind(
        "officer_import.html",
        "/officer/import",
        VoucherClient.import_file,
        {"created": "已登记", "duplicate": "已登记过", "error": "有误"},
    ),
    "status": Kind(
        "officer_status_import.html",
        "/officer/status-import",
        VoucherClient.status_import,
        {"applied": "已登记", "unchanged": "已登记过（未变）", "error": "有误"},
    ),
}


def _friendly(
    kind: str, result: dict[str, Any], columns: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Every row's status and refusal in plain Chinese (the service's codes mapped), a bad
    or missing value with what the column takes (`columns`, the service's list)."""
    takes = {c.get("heading"): c.get("meaning") for c in columns or ()}
    rows = []
    for row in result.get("rows") or ():
        row = dict(row)
        err = row.get("error")
        if isinstance(err, dict):
            message = FRIENDLY.get(err.get("code", ""), "这一行有误。")
            if err.get("column"):  # the column as the sheet heads it
                message = f"{err['column']}：{message}"
                if err.get("code") in ("INVALID_VALUE", "FIELD_REQUIRED") and takes.get(
                    err["column"]
                ):
                    message += f"应填：{takes[err['column']]}。"
            row["error"] = {**err, "message": message}
            row["message"] = message
        row["status_name"] = KINDS[kind].statuses.get(row.get("status") or "", "有误")
        rows.append(row)
    return {**result, "rows": rows}


async def _form(
    request: Request,
    db: Any,
    session: Session,
    kind: str,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    jobs = await repo.recent(db, session.user_id, kind)
    now = await repo.now(db)
    return page(
        request,
        KINDS[kind].template,
        session,
        status_code=status_code,
        error=error,
        result=None,
        job=None,
        jobs=[_shown(j, now) for j in jobs],
        columns=await _columns(request.app.state.web, session, kind),
    )


async def _columns(web: Any, session: Session, kind: str) -> list[dict[str, Any]]:
    """How to fill the file: each column's heading, 必填 or not, and what to write."""
    client = voucher_client(web, session)
    try:
        return await client.import_columns(kind)
    except ApiError:
        return []  # the upload still works; the page then lists no columns
    finally:
        await client.aclose()


@router.get("/import/template.{fmt}")
async def import_template(fmt: str, web: StateDep, session: Session = OFFICER) -> Response:
    """The empty enrolment file to fill in, its headings in Chinese (CSV or Excel)."""
    return await _template(web, session, "beneficiaries", fmt)


@router.get("/status-import/template.{fmt}")
async def status_import_template(fmt: str, web: StateDep, session: Session = OFFICER) -> Response:
    """The empty file of deaths and hospital stays to fill in (CSV or Excel)."""
    return await _template(web, session, "status", fmt)


TEMPLATE_NAMES = {"beneficiaries": "老人信息导入模板", "status": "死亡住院信息导入模板"}


async def _template(web: Any, session: Session, kind: str, fmt: str) -> Response:
    if fmt not in MEDIA:
        return Response("请选择 CSV 或 Excel 格式。", 404, media_type="text/plain; charset=utf-8")
    client = voucher_client(web, session)
    try:
        body = await client.import_template(kind, fmt)
    except ApiError as exc:
        return Response(exc.friendly, exc.page_status, media_type="text/plain; charset=utf-8")
    finally:
        await client.aclose()
    name = quote(f"{TEMPLATE_NAMES[kind]}.{fmt}")
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


def _shown(job: ImportJob, now: Any) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "filename": job.filename,
        "status": "stale" if imports.is_stale(job.status, job.updated_at, now) else job.status,
        "done_rows": job.done_rows,
        "total_rows": job.total_rows,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


@router.get("/import", response_class=HTMLResponse)
async def import_form(db: DbSession, request: Request, session: Session = OFFICER) -> HTMLResponse:
    """The bulk enrolment upload (CSV or Excel), and the officer's recent imports."""
    return await _form(request, db, session, "beneficiaries")


@router.get("/status-import", response_class=HTMLResponse)
async def status_import_form(
    db: DbSession, request: Request, session: Session = OFFICER
) -> HTMLResponse:
    """Upload a file of deaths and hospital stays; the officer's recent ones."""
    return await _form(request, db, session, "status")


async def _start(
    request: Request,
    web: Any,
    db: Any,
    session: Session,
    kind: str,
    file: UploadFile | None,
) -> Response:
    """Check the upload (kind, size, readable), record the job, start it, and answer with
    the job's page (post/redirect/get)."""
    officer_only(session)
    name = (file.filename or "") if file else ""
    if not file or not name.lower().endswith((".csv", ".xlsx")):
        return await _form(
            request, db, session, kind, status_code=422, error="请选择 CSV 或 Excel (.xlsx) 文件。"
        )
    content = await file.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD or not content:
        return await _form(
            request, db, session, kind, status_code=422, error="文件为空或超过 5MB。"
        )
    try:
        parts = imports.split(content, name, web.settings.import_chunk_rows)
    except imports.UnreadableFile as exc:
        return await _form(request, db, session, kind, status_code=422, error=str(exc))
    database = request.app.state.db
    # The job row is committed before the work starts, so the work always finds it.
    async with database.unit_of_work() as own:
        job = await repo.create(
            own,
            user_id=session.user_id,
            kind=kind,
            filename=name[-200:],
            total_rows=sum(p.rows for p in parts),
        )
        job_id = job.id
    send_as = KINDS[kind].send

    async def send(token: str, part: bytes) -> dict[str, Any]:
        client = VoucherClient(web.common.voucher_url, token, http=web.http["voucher"])
        try:
            return dict(await send_as(client, "part.csv", part, "text/csv"))
        finally:
            await client.aclose()

    web.start(
        imports.run(
            database,
            web.identity,
            job_id=job_id,
            user_id=session.user_id,
            kind=kind,
            parts=parts,
            send=send,
        )
    )
    session.flash.append(("ok", "已开始导入。可以离开本页，稍后在导入页的“最近的导入”里查看。"))
    return RedirectResponse(f"/officer/imports/{job_id}", status_code=303)


@router.post("/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Start importing the file of people to enrol; answer with the import's page."""
    return await _start(request, web, db, session, "beneficiaries", file)


@router.post("/status-import", response_class=HTMLResponse)
async def status_import(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Start importing the file of deaths and hospital stays; answer with its page."""
    return await _start(request, web, db, session, "status", file)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
async def import_job(
    request: Request, job_id: str, web: StateDep, db: DbSession, session: Session = OFFICER
) -> HTMLResponse:
    """An import's progress (the page refreshes itself while it runs) and, when it is done,
    every row's result. Only the officer who started it sees it."""
    job = await repo.get(db, uuid.UUID(job_id), session.user_id) if _JOB_ID.match(job_id) else None
    if job is None:
        return page(request, "error.html", session, status_code=404, message="没有这次导入。")
    shown = _shown(job, await repo.now(db))
    return page(
        request,
        KINDS[job.kind].template,
        session,
        error=None,
        job=shown,
        jobs=[],
        running=shown["status"] == "running",
        result=(
            _friendly(job.kind, job.result, await _columns(web, session, job.kind))
            if job.result
            else None
        ),
    )
