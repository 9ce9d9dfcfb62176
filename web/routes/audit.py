"""Auditor: ledger browser, trial balance at a date, chain verification, CSV exports."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from services.common.export import csv_bytes
from web.clients import ApiError
from web.deps import StateDep, ledger_client, require_role
from web.render import page
from web.sessions import Session

router = APIRouter(prefix="/audit")
AUDITOR = require_role(Role.auditor)
FILTERS = (
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
    """Journal entries with their postings, filtered by account and dimension."""
    filters, error = _filters(request)
    data: dict[str, Any] = {"entries": [], "next_cursor": None}
    if not error:
        client = ledger_client(web, session)
        try:
            data = await client.entries(**filters)
        except ApiError as exc:
            error = exc.friendly
        finally:
            await client.aclose()
    query = "&".join(f"{k}={v}" for k, v in filters.items() if k != "cursor")
    return page(
        request, "audit_entries.html", session, data=data, error=error, filters=filters, query=query
    )


@router.get("/entries.csv")
async def entries_csv(request: Request, web: StateDep, session: Session = AUDITOR) -> Response:
    """The filtered entries as CSV, one row per posting (all pages)."""
    filters, error = _filters(request)
    if error:
        return Response(error, status_code=422, media_type="text/plain; charset=utf-8")
    rows: list[list[Any]] = []
    columns = [
        "seq",
        "entry_id",
        "kind",
        "posted_at",
        "period",
        "line",
        "account",
        "account_name",
        "amount_fen",
        "currency",
        "region_code",
        "program_code",
        "funding_source",
        "provider_id",
        "beneficiary_id",
        "voucher_id",
    ]
    client = ledger_client(web, session)
    try:
        cursor = None
        for _ in range(1000):
            page_data = await client.entries(**{**filters, "cursor": cursor, "limit": 500})
            for e in page_data["entries"]:
                for p in e.get("postings", []):
                    rows.append(
                        [
                            e["seq"],
                            e["id"],
                            e["kind"],
                            e["posted_at"],
                            e["period"],
                            p["line"],
                            p["account"],
                            p["account_name"],
                            p["amount_fen"],
                            p["currency"],
                            p["region_code"],
                            p["program_code"],
                            p["funding_source"],
                            p["provider_id"],
                            p["beneficiary_id"],
                            p["voucher_id"],
                        ]
                    )
            cursor = page_data.get("next_cursor")
            if not cursor:
                break
    except ApiError as exc:
        return Response(
            exc.friendly, status_code=exc.page_status, media_type="text/plain; charset=utf-8"
        )
    finally:
        await client.aclose()
    return Response(
        csv_bytes(columns, rows, bom=True),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="entries.csv"'},
    )


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


@router.get("/trial-balance.csv")
async def trial_balance_csv(
    web: StateDep, session: Session = AUDITOR, as_of: str | None = None
) -> Response:
    """The trial balance as CSV."""
    when, error = _as_of(as_of)
    tb = None
    if not error:
        tb, error = await _trial_balance(web, session, when)
    if error or tb is None:
        return Response(error or "", status_code=422, media_type="text/plain; charset=utf-8")
    columns = [
        "code",
        "name",
        "region_code",
        "program_code",
        "funding_source",
        "debit_fen",
        "credit_fen",
        "balance_fen",
    ]
    rows = []
    for a in tb["accounts"]:
        rows.append(
            [
                a["code"],
                a["name"],
                a["region_code"],
                a["program_code"],
                a["funding_source"],
                a["debit_fen"],
                a["credit_fen"],
                a["balance_fen"],
            ]
        )
    rows.append(["TOTAL", "", "", "", "", tb["total_debit_fen"], tb["total_credit_fen"], ""])
    return Response(
        csv_bytes(columns, rows, bom=True),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="trial-balance.csv"'},
    )


@router.get("/chain", response_class=HTMLResponse)
async def chain(
    request: Request, web: StateDep, session: Session = AUDITOR, run: int = 0
) -> HTMLResponse:
    """Verify the ledger's hash chain (on request: it reads every entry)."""
    result = None
    error = None
    if run:
        client = ledger_client(web, session)
        try:
            result = await client.verify_chain()
        except ApiError as exc:
            error = exc.friendly
        finally:
            await client.aclose()
    return page(request, "audit_chain.html", session, result=result, error=error)
