"""The national dashboard (全国统计看板) of a national account (web/roles.py `is_national`: an
officer, finance officer or auditor whose region is the country, 000000): each province and
the whole country, from the sharded voucher service's GET /v1/national/dashboard (the
provinces' dashboards added, docs/shards.md). The charts and tables are the regional
dashboard's (web/routes/dashboard.py), with the provinces in place of the sub-regions and
the country's total under them; every table exports to CSV and XLSX.

Programme names come from the web's labels: a national token names no province, so no
province's list of programmes is asked (a province's own programme shows as 其他项目)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.common.export import MEDIA, table_file, yuan_cell
from services.common.regions import region_name
from web.charts import bar_chart
from web.clients import ApiError
from web.deps import PageForbidden, StateDep, require_role, voucher_client
from web.labels import LABELS, local_time
from web.render import page
from web.roles import NATIONAL_ROLES, is_national
from web.routes.dashboard import _PERIOD, TABLES, charts_of, tables_of
from web.sessions import Session

router = APIRouter(prefix="/national/dashboard")
_READERS = require_role(*NATIONAL_ROLES)
_NOT_SHARDED = "全国统计需要按省份部署的服务；当前部署只有一个省份，请查看统计看板。"


def _national(session: Session = _READERS) -> Session:
    if not is_national(session.role, session.region):
        raise PageForbidden("全国统计看板只对全国账号开放。")
    return session


NATIONAL = Depends(_national)


async def _figures(web: Any, session: Session, period: str) -> dict[str, Any]:
    client = voucher_client(web, session)
    try:
        params = {"period": period} if _PERIOD.match(period or "") else {}
        try:
            data: dict[str, Any] = await client.json("GET", "/v1/national/dashboard", params=params)
        except ApiError as exc:
            if exc.status == 404:  # one database: the voucher service has no national route
                raise ApiError(404, "NOT_SHARDED", _NOT_SHARDED) from exc
            raise
    finally:
        await client.aclose()
    return data


def _names() -> dict[str, str]:
    return dict(LABELS["program_short"])


def _province(code: str) -> str:
    name = region_name(code)
    return name if name != code else "未命名省份"


def national_tables(d: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The regional dashboard's tables, the sub-regions being the provinces, named, with
    the country's total as the last row."""
    tables = tables_of(d, _names())
    # 自治区 is Guangxi's word for its own level; over the country it is the provinces'
    for row, line in zip(tables["budget"][1], d.get("budget") or [], strict=True):
        if line["funding_source"] == "regional":
            row[1] = "省级"
    columns, rows = tables["subregions"]
    for row, s in zip(rows, d["subregions"], strict=True):
        row[0] = _province(s["region_code"])
    exact = sum(s.get("circle_exact", 0) for s in d["subregions"])
    covered = sum(s.get("circle_covered", 0) for s in d["subregions"])
    rows.append(
        [
            "全国合计",
            d["enrolled"]["total"],
            sum(s["vouchers"] for s in d["subregions"]),
            yuan_cell(sum(s["face_fen"] for s in d["subregions"])),
            yuan_cell(sum(s["redeemed_fen"] for s in d["subregions"])),
            f"{(covered * 10_000 // exact if exact else 0) / 100:.2f}",
        ]
    )
    tables["subregions"] = (["省份", *columns[1:]], rows)
    return tables


def national_charts(d: dict[str, Any]) -> list[str]:
    """The provinces side by side (people enrolled, the month's use), then the regional
    dashboard's charts over the whole country."""
    provinces = [(_province(s["region_code"])[:8], s) for s in d["subregions"]]
    return [
        bar_chart(
            "各省在册老人",
            [(name, s["enrolled"]) for name, s in provinces],
            unit="人",
            fen=False,
        ),
        bar_chart(
            "各省本月发放与使用",
            [
                bar
                for name, s in provinces
                for bar in ((f"{name} 发放", s["face_fen"]), (f"{name} 使用", s["redeemed_fen"]))
            ],
        ),
        *charts_of(d, _names()),
    ]


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request, web: StateDep, period: str = "", session: Session = NATIONAL
) -> HTMLResponse:
    """Each province and the country for a month (default this month)."""
    try:
        d = await _figures(web, session, period)
    except ApiError as exc:
        return page(
            request,
            "national_dashboard.html",
            session,
            status_code=exc.page_status,
            error=exc.friendly,
            d=None,
        )
    return page(
        request,
        "national_dashboard.html",
        session,
        d=d,
        error=None,
        read_at=local_time(datetime.now(UTC)),
        provinces=[_province(s["region_code"]) for s in d["subregions"]],
        charts=national_charts(d),
        tables=national_tables(d),
    )


@router.get("/export.{fmt}")
async def export(
    web: StateDep, fmt: str, table: str = "programs", period: str = "", session: Session = NATIONAL
) -> Response:
    """One of the national dashboard's tables as CSV or XLSX."""
    if fmt not in MEDIA or table not in TABLES:
        return Response(
            "只能导出 CSV 或 Excel。", status_code=404, media_type="text/plain; charset=utf-8"
        )
    try:
        d = await _figures(web, session, period)
    except ApiError as exc:
        return Response(
            exc.friendly, status_code=exc.page_status, media_type="text/plain; charset=utf-8"
        )
    columns, rows = national_tables(d)[table]
    return Response(
        table_file(fmt, "全国统计", columns, rows),
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": (f'attachment; filename="national-{table}-{d["period"]}.{fmt}"')
        },
    )
