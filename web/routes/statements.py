"""Provider statements (the provider admin's own; finance and auditors any in their scope)
and the aging of approved-but-unpaid claims per provider — tables, charts, CSV and Excel.

The numbers are the ledger's (`GET /v1/providers/{id}/statement`, `GET /v1/aging`); files
are the people's files of web/downloads.py (Chinese headings, 元).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common import export
from services.common.auth import Role
from web import downloads
from web.charts import bar_chart
from web.clients import ApiError
from web.deps import (
    PageForbidden,
    StateDep,
    WebState,
    ledger_client,
    provider_client,
    require_role,
    voucher_client,
)
from web.render import page
from web.routes.payments import provider_names
from web.routes.provider import this_month
from web.sessions import Session

router = APIRouter()
ADMIN = require_role(Role.provider_admin)
READERS = require_role(Role.finance, Role.auditor)
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_ID = re.compile(r"^[\w-]{1,64}$")
# What a statement lists, in order: the ledger's field and what people call it.
# The co-payment lines: online co-payments the department collected for the provider (and
# refunded), owed to it with the subsidy; `copay_paid` / `copay_closing` are the co-payment
# parts of the payments and of the closing ("of which" rows, not added again).
STATEMENT_ITEMS = (
    ("opening", "期初应付"),
    ("redemptions", "本期补贴核销"),
    ("voids", "本期撤销"),
    ("copay_received", "本期代收家属自付款"),
    ("copay_refunded", "本期退还家属自付款"),
    ("payments", "本期已付款"),
    ("copay_paid", "其中：自付部分已付"),
    ("recoveries", "本期追回违规补贴"),
    ("other", "其他调整"),
    ("closing", "期末应付"),
    ("copay_closing", "其中：自付部分待付"),
)
STATEMENT_PARTS = frozenset({"copay_paid", "copay_closing"})
AGING_BUCKETS = (
    ("0_30", "30 天以内"),
    ("31_60", "31–60 天"),
    ("61_90", "61–90 天"),
    ("over_90", "90 天以上"),
)


def _text(message: str, status_code: int) -> Response:
    return Response(message, status_code=status_code, media_type="text/plain; charset=utf-8")


async def _statement(
    web: WebState, session: Session, provider_id: str, period: str
) -> tuple[dict[str, Any] | None, str | None, int]:
    client = ledger_client(web, session)
    try:
        return await client.statement(provider_id, period), None, 200
    except ApiError as exc:
        return None, exc.friendly, exc.page_status
    finally:
        await client.aclose()


def statement_chart(st: dict[str, Any]) -> str:
    return bar_chart(
        "本期对账（元）",
        [
            (label, int(st.get(f"{key}_fen") or 0))
            for key, label in STATEMENT_ITEMS
            if key not in STATEMENT_PARTS
        ],
    )


def statement_rows(st: dict[str, Any]) -> list[dict[str, Any]]:
    """The statement's items, one row each, in the order of the page."""
    return [
        {
            "provider_id": st["provider_id"],
            "period": st["period"],
            "item": item,
            "amount_fen": int(st.get(f"{key}_fen") or 0),
        }
        for key, item in STATEMENT_ITEMS
    ]


def _own_provider(session: Session, provider_id: str | None) -> str:
    """A provider admin reads only its own provider's statement: naming another is refused."""
    own = session.provider_id or ""
    if provider_id and provider_id != own:
        raise PageForbidden("只能查看本机构的对账单。")
    return own


async def _statement_page(
    request: Request, web: WebState, session: Session, provider_id: str, period: str, base: str
) -> HTMLResponse:
    if not _PERIOD.match(period):
        return page(
            request,
            "provider_statement.html",
            session,
            status_code=422,
            statement=None,
            error="月份请按 2026-11 这样填写。",
            period=period,
            base=base,
            provider_id=provider_id,
            items=STATEMENT_ITEMS,
            name="",
            parts=STATEMENT_PARTS,
        )
    st, error, status = await _statement(web, session, provider_id, period)
    name = (await provider_names(web, session, {provider_id})).get(provider_id, provider_id)
    recoveries = await _recoveries(web, session, provider_id) if st else []
    return page(
        request,
        "provider_statement.html",
        session,
        status_code=status,
        statement=st,
        error=error,
        period=period,
        base=base,
        name=name,
        provider_id=provider_id,
        items=STATEMENT_ITEMS,
        parts=STATEMENT_PARTS,
        chart=statement_chart(st) if st else "",
        recoveries=recoveries,
    )


async def _recoveries(web: WebState, session: Session, provider_id: str) -> list[dict[str, Any]]:
    """The provider's recoveries (wrongly paid subsidies taken back), for its admin and
    auditors; finance reads the amounts in the statement only."""
    if session.role not in (Role.provider_admin.value, Role.auditor.value):
        return []
    client = voucher_client(web, session)
    try:
        return await client.recoveries(provider_id)
    except ApiError:
        return []  # the statement itself still shows the period's total
    finally:
        await client.aclose()


async def _statement_file(
    web: WebState, session: Session, provider_id: str, period: str, fmt: str
) -> Response:
    if fmt not in export.MEDIA or not _PERIOD.match(period):
        return _text("请按 年-月 选择月份，格式为 CSV 或 Excel。", 422)
    st, error, status = await _statement(web, session, provider_id, period)
    if st is None:
        return _text(error or "", status)
    name = (await provider_names(web, session, {provider_id})).get(provider_id, provider_id)
    return downloads.download(
        fmt,
        f"对账单 {period}",
        downloads.statement_columns(name),
        statement_rows(st),
        f"statement-{provider_id}-{period}",
    )


@router.get("/provider/statement", response_class=HTMLResponse)
async def provider_statement(
    request: Request,
    web: StateDep,
    session: Session = ADMIN,
    period: str = "",
    provider_id: str = "",
) -> HTMLResponse:
    """The provider's statement for a month: opening payable, redemptions, voids, online
    co-payments received and refunded, payments (and their co-payment part), closing (and
    its co-payment part), as a table and a chart, with CSV and Excel downloads."""
    own = _own_provider(session, provider_id)
    return await _statement_page(
        request, web, session, own, period.strip() or this_month(), "/provider/statement"
    )


@router.get("/provider/statement.{fmt}")
async def provider_statement_file(
    fmt: str, web: StateDep, session: Session = ADMIN, period: str = "", provider_id: str = ""
) -> Response:
    """The provider's statement as CSV or Excel."""
    own = _own_provider(session, provider_id)
    return await _statement_file(web, session, own, period.strip(), fmt)


@router.get("/finance/statement", response_class=HTMLResponse)
async def finance_statement(
    request: Request,
    web: StateDep,
    session: Session = READERS,
    provider_id: str = "",
    period: str = "",
) -> HTMLResponse:
    """A provider's statement as finance or an auditor sees it (the ledger checks that the
    provider's accounts lie in their region); without a provider, the providers of their
    region to choose from."""
    if not provider_id:
        return await _provider_pick(request, web, session, period.strip() or this_month())
    if not _ID.match(provider_id):
        return page(
            request, "error.html", session, status_code=422, message="请从列表中选择服务机构。"
        )
    return await _statement_page(
        request, web, session, provider_id, period.strip() or this_month(), "/finance/statement"
    )


_CURSOR = re.compile(r"^[0-9a-f-]{36}$")


async def _provider_pick(
    request: Request, web: WebState, session: Session, period: str
) -> HTMLResponse:
    """The region's providers (50 a page, by the register's order), each opening its
    statement for the month."""
    cursor = request.query_params.get("cursor", "")
    client = provider_client(web, session)
    error: str | None = None
    listed: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        listed = await client.register_page(
            session.region, cursor if _CURSOR.match(cursor) else None
        )
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "finance_statement_pick.html",
        session,
        providers=listed.get("items") or [],
        next_cursor=listed.get("next_cursor"),
        period=period if _PERIOD.match(period) else this_month(),
        error=error,
    )


@router.get("/finance/statement.{fmt}")
async def finance_statement_file(
    fmt: str, web: StateDep, session: Session = READERS, provider_id: str = "", period: str = ""
) -> Response:
    """A provider's statement as CSV or Excel (finance, auditor)."""
    if not _ID.match(provider_id):
        return _text("请从账龄页面选择服务机构。", 422)
    return await _statement_file(web, session, provider_id, period.strip(), fmt)


# --- aging -----------------------------------------------------------------------------------


async def _aging(web: WebState, session: Session) -> tuple[dict[str, Any] | None, str | None, int]:
    client = ledger_client(web, session)
    try:
        data = await client.aging()
    except ApiError as exc:
        return None, exc.friendly, exc.page_status
    finally:
        await client.aclose()
    rows = data.get("providers") or []
    names = await provider_names(web, session, {str(r.get("provider_id")) for r in rows})
    for r in rows:
        r["provider_name"] = names.get(str(r.get("provider_id")), r.get("provider_id"))
    return data, None, 200


@router.get("/finance/aging", response_class=HTMLResponse)
async def aging(request: Request, web: StateDep, session: Session = READERS) -> HTMLResponse:
    """Approved-but-unpaid claim amounts per provider by how long they have waited (0-30,
    31-60, 61-90, over 90 days), as a table and charts, with CSV and Excel downloads."""
    data, error, status = await _aging(web, session)
    charts: list[str] = []
    if data is not None:
        totals = data.get("totals") or {}
        charts.append(
            bar_chart(
                "待付款账龄（元）",
                [(label, int(totals.get(f"{key}_fen") or 0)) for key, label in AGING_BUCKETS],
            )
        )
        charts.append(
            bar_chart(
                "各机构待付款（元）",
                [
                    (str(r["provider_name"])[:10], int(r.get("total_fen") or 0))
                    for r in data.get("providers") or []
                ],
            )
        )
    return page(
        request,
        "finance_aging.html",
        session,
        status_code=status,
        data=data,
        error=error,
        charts=charts,
        buckets=AGING_BUCKETS,
        month=this_month(),
    )


@router.get("/finance/aging.{fmt}")
async def aging_file(fmt: str, web: StateDep, session: Session = READERS) -> Response:
    """The aging table as CSV or Excel, one row per provider and a total row."""
    if fmt not in export.MEDIA:
        return _text("格式应为 CSV 或 Excel。", 422)
    data, error, status = await _aging(web, session)
    if data is None:
        return _text(error or "", status)
    providers = data.get("providers") or []
    totals = data.get("totals") or {}
    total = {
        "provider_name": "合计",
        **{f"{k}_fen": int(totals.get(f"{k}_fen") or 0) for k, _ in AGING_BUCKETS},
        "total_fen": sum(int(totals.get(f"{k}_fen") or 0) for k, _ in AGING_BUCKETS),
        "copay_fen": sum(int(r.get("copay_fen") or 0) for r in providers),
    }
    return downloads.download(
        fmt, "账龄", downloads.aging_columns(AGING_BUCKETS), [*providers, total], "aging"
    )
