"""The civil-affairs dashboard (officers, finance and auditors read it): enrolment, issuance
against redemption by programme, twelve months of trend and the sub-regions to drill into,
for a region in the reader's scope. Charts are the server-drawn SVG of web/charts.py; every
table exports to CSV and XLSX through services/common/export."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from services.common.export import MEDIA, table_file
from services.common.regions import region_name
from web.charts import bar_chart, fen_to_yuan
from web.clients import ApiError
from web.deps import StateDep, require_role, voucher_client
from web.render import page
from web.sessions import Session

router = APIRouter(prefix="/dashboard")
READERS = require_role(Role.civil_affairs, Role.finance, Role.auditor)
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_REGION = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")
SETTINGS = {"home": "居家", "community": "社区", "institution": "机构"}
TABLES = ("programs", "subregions", "trend")


def _args(session: Session, region_code: str, period: str) -> tuple[str, str | None]:
    region = region_code if _REGION.match(region_code or "") else (session.region or "")
    return region, period if _PERIOD.match(period or "") else None


async def _figures(
    web: Any, session: Session, region: str, period: str | None, names: dict[str, str]
) -> dict[str, Any]:
    client = voucher_client(web, session)
    try:
        params = {"region_code": region, **({"period": period} if period else {})}
        data: dict[str, Any] = await client.json("GET", "/v1/dashboard", params=params)
        if not names:
            names.update({p["code"]: p["name"] for p in await client.programs()})
    finally:
        await client.aclose()
    return data


def _tables(
    d: dict[str, Any], names: dict[str, str]
) -> dict[str, tuple[list[str], list[list[Any]]]]:
    return {
        "programs": (
            ["补贴项目", "发放张数", "发放金额（元）", "使用笔数", "使用金额（元）", "使用率（%）"],
            [
                [
                    names.get(p["program_code"], "其他项目"),
                    p["vouchers"],
                    fen_to_yuan(p["face_fen"]),
                    p["redemptions"],
                    fen_to_yuan(p["redeemed_fen"]),
                    f"{p['used_bp'] / 100:.2f}",
                ]
                for p in d["programs"]
            ],
        ),
        "subregions": (
            ["地区", "在册老人", "发放张数", "发放金额（元）", "使用金额（元）"],
            [
                [
                    region_name(s["region_code"]) or "未命名地区",
                    s["enrolled"],
                    s["vouchers"],
                    fen_to_yuan(s["face_fen"]),
                    fen_to_yuan(s["redeemed_fen"]),
                ]
                for s in d["subregions"]
            ],
        ),
        "trend": (
            ["月份", "发放张数", "发放金额（元）", "使用金额（元）"],
            [
                [
                    t["period"],
                    t["vouchers"],
                    fen_to_yuan(t["face_fen"]),
                    fen_to_yuan(t["redeemed_fen"]),
                ]
                for t in d["trend"]
            ],
        ),
    }


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    web: StateDep,
    region_code: str = "",
    period: str = "",
    session: Session = READERS,
) -> HTMLResponse:
    """The dashboard of a region (default the reader's) and period (default this month)."""
    region, month = _args(session, region_code, period)
    names: dict[str, str] = {}
    try:
        d = await _figures(web, session, region, month, names)
    except ApiError as exc:
        return page(
            request,
            "dashboard.html",
            session,
            status_code=exc.page_status,
            error=exc.friendly,
            d=None,
        )
    grades = d["enrolled"]["by_grade"]
    charts = [
        bar_chart(
            "在册老人（按能力等级）",
            [(f"{g} 级" if g != "none" else "未评估", grades[g]) for g in sorted(grades)],
            unit="人",
            fen=False,
        ),
        bar_chart(
            "在册老人（按照护方式）",
            [
                (SETTINGS.get(s, "其他"), n)
                for s, n in sorted(d["enrolled"]["by_care_setting"].items())
            ],
            unit="人",
            fen=False,
        ),
        bar_chart(
            "本月发放与使用",
            [
                bar
                for p in d["programs"]
                for bar in (
                    (f"{names.get(p['program_code'], '其他项目')[:8]} 发放", p["face_fen"]),
                    (f"{names.get(p['program_code'], '其他项目')[:8]} 使用", p["redeemed_fen"]),
                )
            ],
        ),
        bar_chart("近十二个月使用金额", [(t["period"], t["redeemed_fen"]) for t in d["trend"]]),
    ]
    return page(
        request,
        "dashboard.html",
        session,
        d=d,
        error=None,
        region_label=region_name(d["region_code"]) or "本辖区",
        charts=charts,
        tables=_tables(d, names),
        subregions=[
            (s["region_code"], region_name(s["region_code"]) or "未命名地区")
            for s in d["subregions"]
        ],
    )


@router.get("/export.{fmt}")
async def export(
    web: StateDep,
    fmt: str,
    table: str = "programs",
    region_code: str = "",
    period: str = "",
    session: Session = READERS,
) -> Response:
    """One of the dashboard's tables as CSV or XLSX."""
    if fmt not in MEDIA or table not in TABLES:
        return Response(
            "只能导出 CSV 或 Excel。", status_code=404, media_type="text/plain; charset=utf-8"
        )
    region, month = _args(session, region_code, period)
    names: dict[str, str] = {}
    try:
        d = await _figures(web, session, region, month, names)
    except ApiError as exc:
        return Response(
            exc.friendly, status_code=exc.page_status, media_type="text/plain; charset=utf-8"
        )
    columns, rows = _tables(d, names)[table]
    return Response(
        table_file(fmt, "统计", columns, rows),
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="dashboard-{table}-{d["period"]}.{fmt}"'
        },
    )
