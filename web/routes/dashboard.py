"""The civil-affairs dashboard (officers, finance and auditors read it): enrolment, issuance
against redemption by programme, budget execution by programme and funding source,
providers by kind and status, the 15-minute care circle with the communities that have the
most uncovered people, twelve months of trend and the sub-regions to drill into, for a
region in the reader's scope. Every figure is the voucher service's GET /v1/dashboard (which
asks the ledger for the budget), so the page and its exports read the same numbers. Charts
are the server-drawn SVG of web/charts.py; every table exports to CSV and XLSX through
services/common/export."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.common.auth import Role
from services.common.export import MEDIA, table_file, yuan_cell
from services.common.regions import region_name
from web.charts import bar_chart
from web.clients import ApiError
from web.deps import StateDep, require_role, voucher_client
from web.labels import label
from web.render import page
from web.service.programs import short_program_name
from web.sessions import Session

router = APIRouter(prefix="/dashboard")
READERS = require_role(Role.civil_affairs, Role.finance, Role.auditor)
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_REGION = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")
SETTINGS = {"home": "居家", "community": "社区", "institution": "机构"}


TABLES = ("programs", "budget", "providers", "circle", "subregions", "trend")


def _bp(bp: int) -> str:
    return f"{bp / 100:.2f}"


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


def tables_of(
    d: dict[str, Any], names: dict[str, str]
) -> dict[str, tuple[list[str], list[list[Any]]]]:
    return {
        "programs": (
            ["补贴项目", "发放张数", "发放金额（元）", "使用笔数", "使用金额（元）", "使用率（%）"],
            [
                [
                    names.get(p["program_code"], "其他项目"),
                    p["vouchers"],
                    yuan_cell(p["face_fen"]),
                    p["redemptions"],
                    yuan_cell(p["redeemed_fen"]),
                    f"{p['used_bp'] / 100:.2f}",
                ]
                for p in d["programs"]
            ],
        ),
        "budget": (
            [
                "补贴项目",
                "资金来源",
                "下达（元）",
                "已承诺（元）",
                "已支出（元）",
                "已释放（元）",
                "可用（元）",
            ],
            [
                [
                    names.get(b["program_code"], "其他项目"),
                    label(b["funding_source"], "funding"),
                    yuan_cell(b["appropriated_fen"]),
                    yuan_cell(b["committed_fen"]),
                    yuan_cell(b["spent_fen"]),
                    yuan_cell(b["released_fen"]),
                    yuan_cell(b["available_fen"]),
                ]
                for b in d.get("budget") or []
            ],
        ),
        "providers": (
            ["机构类型", "状态", "机构数"],
            [
                [
                    label(p["kind"], "provider_kind"),
                    label(p["status"], "provider_status"),
                    p["providers"],
                ]
                for p in d.get("providers") or []
            ],
        ),
        "circle": (
            ["社区", "位置准确的老人", "圈外老人", "位置为社区中心的老人（另计）"],
            [
                [
                    region_name(c["region_code"]) or "未命名社区",
                    c["exact"],
                    c["uncovered"],
                    c["approximate"],
                ]
                for c in (d.get("care_circle") or {}).get("communities", [])
            ],
        ),
        "subregions": (
            [
                "地区",
                "在册老人",
                "发放张数",
                "发放金额（元）",
                "使用金额（元）",
                "服务圈覆盖率（%）",
            ],
            [
                [
                    region_name(s["region_code"]) or "未命名地区",
                    s["enrolled"],
                    s["vouchers"],
                    yuan_cell(s["face_fen"]),
                    yuan_cell(s["redeemed_fen"]),
                    _bp(s.get("circle_covered_bp", 0)),
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
                    yuan_cell(t["face_fen"]),
                    yuan_cell(t["redeemed_fen"]),
                ]
                for t in d["trend"]
            ],
        ),
    }


def _more_charts(d: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Budget execution by programme, the care circle and providers by kind."""
    charts = []
    by_program: dict[str, list[int]] = {}
    for b in d.get("budget") or []:
        sums = by_program.setdefault(b["program_code"], [0, 0, 0, 0])
        sums[0] += b["appropriated_fen"]
        sums[1] += b["committed_fen"]
        sums[2] += b["spent_fen"]
        sums[3] += b["available_fen"]
    if by_program:
        # 已承诺 beside the others: the vouchers issued and not yet spent are why 可用 is less
        # than 下达 − 支出 (a reader adding the bars up finds every yuan)
        charts.append(
            bar_chart(
                "预算执行（下达、已承诺、支出、可用）",
                [
                    bar
                    for code, (given, committed, spent, left) in sorted(by_program.items())
                    for bar in (
                        (f"{short_program_name(code, names)} 下达", given),
                        (f"{short_program_name(code, names)} 已承诺", committed),
                        (f"{short_program_name(code, names)} 支出", spent),
                        (f"{short_program_name(code, names)} 可用", left),
                    )
                ],
            )
        )
    c = d.get("care_circle")
    if c:
        charts.append(
            bar_chart(
                "15分钟养老服务圈（人）",
                [
                    ("圈内", c["covered"]),
                    ("圈外", c["uncovered"]),
                    ("位置为社区中心", c["approximate"]),
                    ("未登记位置", c["unlocated"]),
                ],
                unit="人",
                fen=False,
            )
        )
    approved: dict[str, int] = {}
    for p in d.get("providers") or []:
        if p["status"] == "approved":
            approved[p["kind"]] = approved.get(p["kind"], 0) + p["providers"]
    if approved:
        charts.append(
            bar_chart(
                "已批准的服务机构（按类型）",
                [(label(k, "provider_kind"), n) for k, n in sorted(approved.items())],
                unit="家",
                fen=False,
            )
        )
    return charts


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
    return page(
        request,
        "dashboard.html",
        session,
        d=d,
        error=None,
        region_label=region_name(d["region_code"]) or "本辖区",
        charts=charts_of(d, names),
        tables=tables_of(d, names),
        subregions=[
            (s["region_code"], region_name(s["region_code"]) or "未命名地区")
            for s in d["subregions"]
        ],
    )


def charts_of(d: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Every chart of a dashboard (a region's, or the national one: the same shape)."""
    grades = d["enrolled"]["by_grade"]
    return [
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
                    (f"{short_program_name(p['program_code'], names)} 发放", p["face_fen"]),
                    (f"{short_program_name(p['program_code'], names)} 使用", p["redeemed_fen"]),
                )
            ],
        ),
        bar_chart("近十二个月使用金额", [(t["period"], t["redeemed_fen"]) for t in d["trend"]]),
        *_more_charts(d, names),
    ]


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
    columns, rows = tables_of(d, names)[table]
    return Response(
        table_file(fmt, "统计", columns, rows),
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="dashboard-{table}-{d["period"]}.{fmt}"'
        },
    )
