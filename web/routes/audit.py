"""Auditor: ledger browser (newest first, by account code), trial balance at a date, chain
verification and signed checkpoints, CSV / XLSX exports and the journal file set."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from web.clients import ApiError
from web.deps import StateDep, ledger_client, require_role
from web.render import page
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
        request, "audit_entries.html", session, data=data, error=error, filters=filters, query=query
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
    """The filtered entries (all of them, not a page) as CSV or XLSX, one row per posting."""
    if fmt not in ("csv", "xlsx"):
        return _refused("只能导出 CSV 或 Excel 文件。", 404)
    filters, error = _filters(request)
    if error:
        return _refused(error)
    filters.pop("cursor", None)
    client = ledger_client(web, session)
    try:
        resp = await client.entries_file(fmt, **filters)
    except ApiError as exc:
        return _refused(exc.friendly, exc.page_status)
    finally:
        await client.aclose()
    return _download(resp, f"entries.{fmt}")


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
    )


@router.get("/trial-balance.{fmt}")
async def trial_balance_file(
    fmt: str, web: StateDep, session: Session = AUDITOR, as_of: str | None = None
) -> Response:
    """The trial balance as CSV or XLSX (the ledger's file)."""
    if fmt not in ("csv", "xlsx"):
        return _refused("只能导出 CSV 或 Excel 文件。", 404)
    when, error = _as_of(as_of)
    if error:
        return _refused(error)
    client = ledger_client(web, session)
    try:
        resp = await client.trial_balance_file(fmt, as_of=when, region_code=session.region)
    except ApiError as exc:
        return _refused(exc.friendly, exc.page_status)
    finally:
        await client.aclose()
    return _download(resp, f"trial-balance.{fmt}")


@router.get("/chain", response_class=HTMLResponse)
async def chain(
    request: Request, web: StateDep, session: Session = AUDITOR, run: int = 0
) -> HTMLResponse:
    """Verify the ledger's hash chain (on request: it reads every entry), and the signed
    checkpoints of its head kept outside the database, with the downloads an auditor's own
    check needs (docs/ledger.md, "For auditors")."""
    result = None
    error = None
    signed: dict[str, Any] | None = None
    signed_error = None
    client = ledger_client(web, session)
    try:
        if run:
            try:
                result = await client.verify_chain()
            except ApiError as exc:
                error = exc.friendly
        try:
            signed = await client.checkpoints(limit=20)
        except ApiError as exc:
            signed_error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "audit_chain.html",
        session,
        result=result,
        error=error,
        signed=signed,
        signed_error=signed_error,
    )
