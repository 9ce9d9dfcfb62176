"""Auditor: ledger browser (newest first, by account code), trial balance at a date, chain
verification and signed checkpoints, CSV / XLSX exports and the journal file set."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common import export
from services.common.auth import Role
from services.ledger.service.chart import CHART  # the chart of accounts (pure constants)
from web import downloads, region_picker
from web.clients import ApiError, LedgerClient
from web.deps import CsrfSession, DbSession, StateDep, ledger_client, require_role
from web.labels import label
from web.models import ImportJob
from web.render import page
from web.repository import import_jobs as jobs_repo
from web.service import background, chain_checks
from web.service.programs import program_names
from web.sessions import Session

router = APIRouter(prefix="/audit")
AUDITOR = require_role(Role.auditor)
FILTERS = (
    "account_code",
    "account",
    "provider_id",
    "beneficiary_id",
    "voucher_id",
    "program_code",
    "region_code",
    "period",
    "from",
    "to",
    "cursor",
)
_SAFE = re.compile(r"^[\w:.+\-]{1,64}$")
_JOB_ID = re.compile(r"^[0-9a-f-]{36}$")


def _filters(request: Request) -> tuple[dict[str, str], str | None]:
    out: dict[str, str] = {}
    for name in FILTERS:
        value = request.query_params.get(name, "").strip()
        if not value:
            continue
        if not _SAFE.match(value):
            return {}, f"查询条件“{name}”格式不对。"
        out[name] = value
    return out, None


def _as_of(value: str | None) -> tuple[str | None, str | None]:
    """A date (end of that day) or a date-time; an error message when it is neither."""
    if not value:
        return None, None
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value + "T23:59:59.999999+08:00").isoformat(), None
        return datetime.fromisoformat(value).isoformat(), None
    except ValueError:
        return None, "日期格式应为 2026-11-23。"


@router.get("/entries", response_class=HTMLResponse)
async def entries(request: Request, web: StateDep, session: Session = AUDITOR) -> HTMLResponse:
    """Journal entries with their postings, newest first, filtered by account code (科目代码),
    account and dimension."""
    filters, error = _filters(request)
    data: dict[str, Any] = {"entries": [], "next_cursor": None}
    if not error:
        client = ledger_client(web, session)
        try:
            data = await client.entries(**filters, order="desc")
        except ApiError as exc:
            error = exc.friendly
        finally:
            await client.aclose()
    query = "&".join(f"{k}={v}" for k, v in filters.items() if k != "cursor")
    return page(
        request,
        "audit_entries.html",
        session,
        data=data,
        error=error,
        filters=filters,
        query=query,
        # the filters by name, not by code: the chart's accounts, the published programmes,
        # the regions of the auditor's scope
        accounts=[(code, label(spec.name, "account")) for code, spec in sorted(CHART.items())],
        programs=sorted((await program_names(web, session)).items()),
        regions=region_picker.choices(session.region, region_picker.ISSUANCE_LEVELS),
    )


def _download(resp: Any, name: str) -> Response:
    """A file the ledger made (formula-safe there: services/common/export), passed on."""
    return Response(
        resp.content,
        media_type=resp.headers.get("content-type", "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _refused(message: str, status: int = 422) -> Response:
    return Response(message, status_code=status, media_type="text/plain; charset=utf-8")


@router.get("/entries.{fmt}")
async def entries_file(
    request: Request, fmt: str, web: StateDep, session: Session = AUDITOR
) -> Response:
    """The filtered entries (all of them, oldest first, not a page) as CSV or XLSX, one row
    per posting (web/downloads.py); more than `downloads.MAX_ENTRIES` asks for a narrower
    query."""
    if fmt not in export.MEDIA:
        return _refused("只能导出 CSV 或 Excel 文件。", 404)
    filters, error = _filters(request)
    if error:
        return _refused(error)
    filters.pop("cursor", None)
    entries: list[dict[str, Any]] = []
    client = ledger_client(web, session)
    try:
        cursor = None
        while True:
            page_ = await client.entries(
                **filters, limit=500, **({"cursor": cursor} if cursor else {})
            )
            entries.extend(page_.get("entries") or [])
            cursor = page_.get("next_cursor")
            if not cursor:
                break
            if len(entries) >= downloads.MAX_ENTRIES:
                return _refused(
                    f"符合条件的分录超过 {downloads.MAX_ENTRIES:,} 条，"
                    "请缩小查询范围（如只选一个月份或一个科目）后再导出。"
                )
    except ApiError as exc:
        return _refused(exc.friendly, exc.page_status)
    finally:
        await client.aclose()
    return downloads.download(
        fmt,
        "分录",
        downloads.entry_columns(await program_names(web, session)),
        downloads.entry_rows(entries),
        "entries",
    )


# The standalone chain verifier an auditor runs on their own machine (audit/verify_ledger.py:
# Python's standard library, and `cryptography` for the signatures), from this checkout.
VERIFIER = Path(__file__).resolve().parents[2] / "audit" / "verify_ledger.py"


@router.get("/verify_ledger.py")
async def verifier(session: Session = AUDITOR) -> Response:
    """The verifier program itself, to run beside the journal's files."""
    try:
        body = VERIFIER.read_bytes()
    except OSError:
        return _refused("这台服务器上没有校验程序，请向系统管理员索取 verify_ledger.py。", 404)
    return Response(
        body,
        media_type="text/x-python; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="verify_ledger.py"'},
    )


@router.get("/journal.zip")
async def journal_zip(
    web: StateDep, session: Session = AUDITOR, as_of: str | None = None
) -> Response:
    """The whole journal as one self-describing file set (chart of accounts, entries,
    postings, signed checkpoints, schema): province-wide auditors."""
    when, error = _as_of(as_of)
    if error:
        return _refused(error)
    client = ledger_client(web, session)
    try:
        resp = await client.journal_export(when)
    except ApiError as exc:
        return _refused(exc.friendly, exc.page_status)
    finally:
        await client.aclose()
    return _download(resp, "journal.zip")


@router.get("/checkpoints.jsonl")
async def checkpoints_file(web: StateDep, session: Session = AUDITOR) -> Response:
    """The ledger's signed checkpoints, one per line, as the verifier reads them."""
    client = ledger_client(web, session)
    try:
        resp = await client.checkpoints_file()
    except ApiError as exc:
        return _refused(exc.friendly, exc.page_status)
    finally:
        await client.aclose()
    return _download(resp, "checkpoints.jsonl")


async def _trial_balance(
    web: Any, session: Session, as_of: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    client = ledger_client(web, session)
    try:
        return await client.trial_balance(as_of=as_of, region_code=session.region), None
    except ApiError as exc:
        return None, exc.friendly
    finally:
        await client.aclose()


@router.get("/trial-balance", response_class=HTMLResponse)
async def trial_balance(
    request: Request, web: StateDep, session: Session = AUDITOR, as_of: str | None = None
) -> HTMLResponse:
    """Trial balance at the end of a chosen date (default now)."""
    when, error = _as_of(as_of)
    tb = None
    if not error:
        tb, error = await _trial_balance(web, session, when)
    return page(
        request,
        "trial_balance.html",
        session,
        tb=tb,
        error=error,
        as_of=as_of or "",
        action="/audit/trial-balance",
        program_names=await program_names(web, session) if tb else {},
    )


@router.get("/trial-balance.{fmt}")
async def trial_balance_file(
    fmt: str, web: StateDep, session: Session = AUDITOR, as_of: str | None = None
) -> Response:
    """The trial balance as CSV or XLSX, as the page shows it (web/downloads.py)."""
    if fmt not in export.MEDIA:
        return _refused("只能导出 CSV 或 Excel 文件。", 404)
    when, error = _as_of(as_of)
    if error:
        return _refused(error)
    client = ledger_client(web, session)
    try:
        tb = await client.trial_balance(as_of=when, region_code=session.region)
    except ApiError as exc:
        return _refused(exc.friendly, exc.page_status)
    finally:
        await client.aclose()
    as_of_text = str(tb.get("as_of") or "")
    return downloads.download(
        fmt,
        f"试算平衡表 {as_of_text[:10]}",
        downloads.trial_balance_columns(as_of_text, await program_names(web, session)),
        downloads.trial_balance_rows(tb),
        "trial-balance",
    )


@router.get("/chain", response_class=HTMLResponse)
async def chain(
    request: Request, web: StateDep, db: DbSession, session: Session = AUDITOR
) -> HTMLResponse:
    """The chain check (started here, run in the background book by book: its own page), the
    auditor's recent checks to come back to, and the signed checkpoints of the root's head
    kept outside the database, with the downloads an auditor's own check needs
    (docs/ledger.md, "For auditors")."""
    return await _chain_page(request, web, db, session)


async def _chain_page(
    request: Request,
    web: Any,
    db: Any,
    session: Session,
    *,
    job: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    signed: dict[str, Any] | None = None
    signed_error = None
    client = ledger_client(web, session)
    try:
        signed = await client.checkpoints(limit=20)
    except ApiError as exc:
        signed_error = exc.friendly
    finally:
        await client.aclose()
    now = await jobs_repo.now(db)
    recent = [] if job else await jobs_repo.recent(db, session.user_id, chain_checks.KIND)
    return page(
        request,
        "audit_chain.html",
        session,
        status_code=status_code,
        job=job,
        running=bool(job and job["status"] == "running"),
        jobs=[_check_shown(j, now) for j in recent],
        error=error,
        signed=signed,
        signed_error=signed_error,
    )


def _check_shown(job: ImportJob, now: Any) -> dict[str, Any]:
    result = job.result or {}
    stale = background.is_stale(job.status, job.updated_at, now)
    return {
        "id": str(job.id),
        "status": "stale" if stale else job.status,
        "done": job.done_rows,
        "total": job.total_rows,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "books": result.get("books") or [],
        "root": result.get(chain_checks.ROOT),
        "ok": result.get("ok"),
        "entries_checked": sum(
            int(b.get("entries_checked") or 0) for b in result.get("books") or ()
        ),
    }


@router.post("/chain/checks", response_class=HTMLResponse)
async def start_chain_check(
    request: Request, web: StateDep, db: DbSession, session: CsrfSession
) -> Response:
    """Start checking every book's chain and the root in the background; answer with the
    check's own page (post/redirect/get), which shows its progress book by book."""
    if session.role != Role.auditor.value:
        return page(request, "error.html", session, status_code=403, message="没有这项权限。")
    client = ledger_client(web, session)
    try:
        books = await client.chain_books()
    except ApiError as exc:
        return await _chain_page(
            request, web, db, session, error=exc.friendly, status_code=exc.page_status
        )
    finally:
        await client.aclose()
    database = request.app.state.db
    async with database.unit_of_work() as own:  # committed before the work starts
        job = await jobs_repo.create(
            own,
            user_id=session.user_id,
            kind=chain_checks.KIND,
            filename=chain_checks.TITLE,
            total_rows=sum(int(b["entries"]) for b in books),
        )
        job_id = job.id
    web.start(
        chain_checks.run(
            database,
            web.identity,
            job_id=job_id,
            user_id=session.user_id,
            books=books,
            client_for=lambda token: LedgerClient(
                web.common.ledger_url, token, http=web.http["ledger"]
            ),
        )
    )
    session.flash.append(("ok", "已开始校验。可以离开本页，稍后在“最近的校验”里查看结果。"))
    return RedirectResponse(f"/audit/chain/checks/{job_id}", status_code=303)


@router.get("/chain/checks/{job_id}", response_class=HTMLResponse)
async def chain_check(
    request: Request, job_id: str, web: StateDep, db: DbSession, session: Session = AUDITOR
) -> HTMLResponse:
    """A chain check's progress (the page refreshes itself while it runs) and, book by book,
    its verdict. Only the auditor who started it sees it."""
    job = (
        await jobs_repo.get(db, uuid.UUID(job_id), session.user_id)
        if _JOB_ID.match(job_id)
        else None
    )
    if job is None or job.kind != chain_checks.KIND:
        return page(request, "error.html", session, status_code=404, message="没有这次校验。")
    return await _chain_page(
        request, web, db, session, job=_check_shown(job, await jobs_repo.now(db))
    )
