"""Finance: trial balance, reconciliation, budget use charts."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common import export
from services.common.auth import Role
from web import downloads, region_picker
from web.charts import bar_chart
from web.clients import ApiError
from web.deps import (
    CsrfSession,
    DbSession,
    PageForbidden,
    StateDep,
    ledger_client,
    provider_client,
    require_role,
)
from web.render import BEIJING, page
from web.routes.provider import CLAIM_STATUS
from web.service.accounts import person_names
from web.service.programs import program_names, short_program_name
from web.sessions import Session

router = APIRouter(prefix="/finance")
FINANCE = require_role(Role.finance)
RECONCILERS = require_role(Role.finance, Role.auditor)
_REGION = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@router.get("", response_class=HTMLResponse)
async def home(request: Request, web: StateDep, session: Session = FINANCE) -> HTMLResponse:
    """Trial balance of the finance officer's region, now."""
    client = ledger_client(web, session)
    tb: dict[str, Any] | None = None
    error = None
    try:
        tb = await client.trial_balance(region_code=session.region)
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "trial_balance.html",
        session,
        tb=tb,
        error=error,
        as_of="",
        action="/finance",
        program_names=await program_names(web, session) if tb else {},
    )


@router.get("/reconciliation", response_class=HTMLResponse)
async def reconciliation(
    request: Request, web: StateDep, session: Session = RECONCILERS, period: str | None = None
) -> HTMLResponse:
    """Three-way reconciliation for a period: the discrepancies, or that all is well."""
    report = None
    error = None
    if period:
        if not _PERIOD.match(period):
            error = "请按 年-月 填写，例如 2026-11。"
        else:
            client = ledger_client(web, session)
            try:
                report = await client.reconciliation(period, session.region)
            except ApiError as exc:
                error = (
                    "对账功能尚未开通。"
                    if exc.status in (404, 405) and exc.code in ("NOT_FOUND", "METHOD_NOT_ALLOWED")
                    else exc.friendly
                )
            finally:
                await client.aclose()
    return page(
        request,
        "reconciliation.html",
        session,
        report=report,
        error=error,
        period=period or "",
        this_month=datetime.now(BEIJING).strftime("%Y-%m"),
    )


@router.get("/budget", response_class=HTMLResponse)
async def budget(
    request: Request, web: StateDep, session: Session = FINANCE, region_code: str | None = None
) -> HTMLResponse:
    """Budget execution of every programme in a region in scope (default the officer's own),
    the region and every region below it together (a city with its districts), as the
    dashboard counts it: appropriated, committed, spent, released and available, a bar chart
    each. The region is picked by name."""
    region = region_code if region_code and _REGION.match(region_code) else session.region
    client = ledger_client(web, session)
    lines: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        lines = (await client.budget_execution(region or "")).get("lines") or []
    except ApiError as exc:
        errors.append(exc.friendly)
    finally:
        await client.aclose()
    totals: dict[str, dict[str, int]] = {}
    for line in lines:  # (one line a programme and funding source)
        t = totals.setdefault(str(line["program_code"]), dict.fromkeys(BUDGET_KEYS, 0))
        for key in BUDGET_KEYS:
            t[key] += int(line.get(key) or 0)
    names = await program_names(web, session) if totals else {}
    charts = [
        bar_chart(
            f"{short_program_name(code, names)}预算执行",
            [(label, t[key]) for key, label in BUDGET_BARS],
        )
        for code, t in sorted(totals.items())
    ]
    return page(
        request,
        "budget.html",
        session,
        charts=charts,
        errors=errors,
        region=region,
        regions=region_picker.choices(session.region, BUDGET_LEVELS),
    )


BUDGET_BARS = (
    ("appropriated_fen", "已下达"),
    ("committed_fen", "已承诺"),
    ("spent_fen", "已支出"),
    ("released_fen", "已释放"),
    ("available_fen", "可用"),
)
BUDGET_KEYS = tuple(key for key, _ in BUDGET_BARS)
# The regions whose budget is read together with those below them (a township's alone is
# read on its county's page).
BUDGET_LEVELS = ("province", "city", "county")


def _not_open(exc: ApiError) -> bool:
    return exc.status in (404, 405) and exc.code in ("NOT_FOUND", "METHOD_NOT_ALLOWED")


@router.get("/claims", response_class=HTMLResponse)
async def claims(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: Session = FINANCE,
    status: str = "submitted",
) -> HTMLResponse:
    """Settlement claims waiting for approval, and by a tab the claims of every other state
    (approved, in a payment, paid, sent back; 全部: all of them, newest first): the history
    finance answers questions from. The ledger refuses the preparer's own approval
    (maker-checker); the page shows who prepared each claim."""
    if status not in CLAIM_VIEWS:
        status = "submitted"
    client = ledger_client(web, session)
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = await client.claims(status=None if status == "all" else status)
    except ApiError as exc:
        error = "结算审批功能尚未开通。" if _not_open(exc) else exc.friendly
    finally:
        await client.aclose()
    names: dict[str, str] = {}
    providers = provider_client(web, session)
    try:  # one call a hundred providers; a name the register does not give stays unsaid
        with contextlib.suppress(ApiError):
            names = await providers.names(str(r.get("provider_id")) for r in rows)
    finally:
        await providers.aclose()
    submitters = await person_names(
        db, [r.get("submitted_by") or r.get("prepared_by") for r in rows]
    )
    for r in rows:
        r.setdefault("provider_name", names.get(str(r.get("provider_id"))))
        r["submitter_name"] = submitters.get(
            r.get("submitted_by") or r.get("prepared_by") or "", ""
        )
    return page(
        request,
        "finance_claims.html",
        session,
        rows=rows,
        error=error,
        status=status,
        views=CLAIM_VIEWS,
        claim_status=CLAIM_STATUS,
    )


# The tabs of the claims page: the ledger's claim states finance reads, then all of them.
CLAIM_VIEWS = ("submitted", "approved", "batched", "paid", "rejected", "all")


@router.post("/claims/{claim_id}/approve")
async def approve_claim(claim_id: str, web: StateDep, session: CsrfSession) -> Response:
    """Approve a claim (the ledger checks that the approver is not its preparer)."""
    if session.role != Role.finance.value:
        raise PageForbidden()
    if not re.match(r"^[\w-]{1,64}$", claim_id):
        session.flash.append(("err", "没有这笔结算申请。"))
        return RedirectResponse("/finance/claims", status_code=303)
    client = ledger_client(web, session)
    try:
        await client.approve_claim(claim_id)
        session.flash.append(("ok", "已审批通过。"))
    except ApiError as exc:
        session.flash.append(("err", "结算审批功能尚未开通。" if _not_open(exc) else exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse("/finance/claims", status_code=303)


@router.post("/claims/{claim_id}/reject")
async def reject_claim(
    claim_id: str, web: StateDep, session: CsrfSession, reasons: Annotated[str, Form()] = ""
) -> Response:
    """Send a claim back to the provider with reasons (one per line)."""
    if session.role != Role.finance.value:
        raise PageForbidden()
    lines = [line.strip()[:500] for line in reasons.splitlines() if line.strip()][:20]
    if not re.match(r"^[\w-]{1,64}$", claim_id):
        session.flash.append(("err", "没有这笔结算申请。"))
    elif not lines:
        session.flash.append(("err", "请填写退回原因。"))
    else:
        client = ledger_client(web, session)
        try:
            await client.reject_claim(claim_id, lines)
            session.flash.append(("ok", "已退回给服务机构。"))
        except ApiError as exc:
            session.flash.append(("err", exc.friendly))
        finally:
            await client.aclose()
    return RedirectResponse("/finance/claims", status_code=303)


@router.get("/reconciliation.{fmt}")
async def reconciliation_file(
    fmt: str, web: StateDep, session: Session = RECONCILERS, period: str = ""
) -> Response:
    """The month's discrepancies as CSV or Excel, as the page lists them (web/downloads.py)."""
    if fmt not in export.MEDIA or not _PERIOD.match(period):
        return Response(
            "请按 年-月 选择月份，格式为 CSV 或 Excel。",
            status_code=422,
            media_type="text/plain; charset=utf-8",
        )
    client = ledger_client(web, session)
    try:
        report = await client.reconciliation(period, session.region)
    except ApiError as exc:
        text = "对账功能尚未开通。" if _not_open(exc) else exc.friendly
        return Response(text, status_code=exc.page_status, media_type="text/plain; charset=utf-8")
    finally:
        await client.aclose()
    return downloads.download(
        fmt,
        f"对账差异 {period}",
        downloads.RECONCILIATION_COLUMNS,
        report.get("discrepancies") or [],
        f"reconciliation-{period}",
    )
