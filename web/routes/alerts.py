"""Civil-affairs officer: the anomaly alert queue of the region, each alert's evidence as a
timeline with a plot of the places (server-drawn SVG, straight-line distances; no map
tiles), the decision (dismiss with a reason, or confirm: recovery and a credit event on the
provider), and the rules' thresholds for the region (docs/anomalies.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from web.charts import fen_to_yuan, places_plot
from web.clients import ApiError
from web.deps import CsrfSession, StateDep, require_role, voucher_client
from web.render import page
from web.routes.officer import officer_only
from web.sessions import Session

router = APIRouter(prefix="/officer")
OFFICER = require_role(Role.civil_affairs)
_ID = re.compile(r"^[0-9a-fA-F-]{36}$")
STATUSES = {"open": "待处理", "confirmed": "已确认违规", "dismissed": "已排除"}
# What each threshold means, in the words officers use, with its unit.
THRESHOLD_NAMES = {
    "max_elders": ("服务老人数上限", "人"),
    "window_minutes": ("时间窗口", "分钟"),
    "distance_km": ("两地距离超过", "公里"),
    "last_days": ("月末天数", "天"),
    "months": ("连续月数", "个月"),
    "share_bp": ("比例", "‱（万分之）"),
    "min_redemptions": ("最少交易笔数", "笔"),
    "window_days": ("统计天数", "天"),
    "min_overlap_minutes": ("两次上门至少重叠", "分钟"),
}
SUBJECTS = {"terminal": "终端", "beneficiary": "老人", "worker": "护理员"}
RECOVERY_DESTINATIONS = {"voucher": "退回老人补贴券", "budget": "退回预算"}
RECOVERY_MODES = {"payable": "从应付款中扣回（尚未结算）", "receivable": "已结算，从下次结算中抵扣"}


def _facts_lines(alert: dict[str, Any]) -> list[str]:
    """What the rule measured and the thresholds in force, in plain words."""
    facts = alert.get("facts") or {}
    lines = []
    for name, value in (facts.get("thresholds") or {}).items():
        label, unit = THRESHOLD_NAMES.get(name, (name, ""))
        lines.append(f"{label}：{value} {unit}")
    if "elders" in facts:
        lines.append(f"实际服务老人：{facts['elders']} 人")
    if "max_km" in facts:
        lines.append(f"两地最远直线距离：{facts['max_km']} 公里")
    if "voids" in facts:
        lines.append(f"撤销 {facts['voids']} 笔 / 共 {facts['redemptions']} 笔")
    if "periods" in facts:
        lines.append("涉及月份：" + "、".join(facts["periods"]))
    if "died_on" in facts:
        lines.append(f"登记死亡日期：{facts['died_on']}")
    return lines


def _summary(alert: dict[str, Any]) -> dict[str, Any]:
    evidence = alert.get("evidence") or []
    return {
        **alert,
        "status_name": STATUSES.get(alert.get("status", ""), ""),
        "subject_name": SUBJECTS.get(alert.get("subject_kind", ""), ""),
        "count": len(evidence),
        "subsidy_fen": sum(int(e.get("subsidy_fen") or 0) for e in evidence),
    }


@router.get("/alerts", response_class=HTMLResponse)
async def queue(
    request: Request, web: StateDep, status: str = "open", session: Session = OFFICER
) -> HTMLResponse:
    """The region's alerts: waiting for a decision (default), confirmed or dismissed."""
    status = status if status in STATUSES else "open"
    client = voucher_client(web, session)
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = [_summary(a) for a in await client.alerts(status)]
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "officer_alerts.html",
        session,
        rows=rows,
        error=error,
        status=status,
        statuses=STATUSES,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def detail(
    alert_id: str, request: Request, web: StateDep, session: Session = OFFICER
) -> HTMLResponse:
    """One alert: what was measured, the evidence in time order, the places on a plot with
    their straight-line distances, the decision form (or the decision taken and what it
    started)."""
    if not _ID.match(alert_id):
        return page(request, "error.html", session, status_code=404, message="没有找到这条预警。")
    client = voucher_client(web, session)
    try:
        alert = await client.alert(alert_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()
    evidence = sorted(alert.get("evidence") or [], key=lambda e: str(e.get("at")))
    places = [
        (e.get("provider_name") or "服务机构", float(e["lat"]), float(e["lon"]))
        for e in evidence
        if e.get("lat") is not None and e.get("lon") is not None
    ]
    svg, distances = places_plot("消费地点示意（直线距离）", places) if places else ("", [])
    return page(
        request,
        "officer_alert.html",
        session,
        alert=_summary(alert),
        facts=_facts_lines(alert),
        evidence=evidence,
        plot=svg,
        distances=distances,
        destinations=RECOVERY_DESTINATIONS,
        modes=RECOVERY_MODES,
    )


@router.post("/alerts/{alert_id}/decision")
async def decide(
    alert_id: str,
    web: StateDep,
    session: CsrfSession,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    at_fault: Annotated[str, Form()] = "",
) -> Response:
    """Dismiss (with the reason) or confirm (recovery and a credit event on the provider);
    the service refuses another region's alert and a second, different decision."""
    officer_only(session)
    if not _ID.match(alert_id):
        session.flash.append(("err", "没有找到这条预警。"))
        return RedirectResponse("/officer/alerts", status_code=303)
    back = RedirectResponse(f"/officer/alerts/{alert_id}", status_code=303)
    reason = reason.strip()[:1000]
    if decision not in ("dismiss", "confirm"):
        session.flash.append(("err", "请选择“排除”或“确认违规”。"))
        return back
    if not reason:
        session.flash.append(("err", "请填写处理理由，它会记入审计记录。"))
        return back
    client = voucher_client(web, session)
    try:
        done = await client.decide_alert(
            alert_id, {"decision": decision, "reason": reason, "at_fault": at_fault == "on"}
        )
        if decision == "dismiss":
            session.flash.append(("ok", "已排除，这条预警不再出现在待处理列表中。"))
        else:
            total = sum(int(r.get("subsidy_fen") or 0) for r in done.get("recoveries") or [])
            session.flash.append(
                (
                    "ok",
                    f"已确认违规：已记入机构信用记录，追回补贴 {fen_to_yuan(total)} 元。",
                )
            )
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return back


# --- thresholds ---------------------------------------------------------------------------------


async def _rules_page(
    request: Request,
    web: Any,
    session: Session,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    region = session.region or ""
    client = voucher_client(web, session)
    rules: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    try:
        rules = await client.rule_settings(region)
        history = await client.rule_history(region)
    except ApiError as exc:
        error = error or exc.friendly
    finally:
        await client.aclose()
    names = {r["rule_code"]: r["name"] for r in rules}
    return page(
        request,
        "officer_rules.html",
        session,
        status_code=status_code,
        rules=rules,
        history=list(reversed(history))[:20],
        names=names,
        threshold_names=THRESHOLD_NAMES,
        region=region,
        error=error,
    )


@router.get("/anomaly-rules", response_class=HTMLResponse)
async def rules_page(request: Request, web: StateDep, session: Session = OFFICER) -> HTMLResponse:
    """The rules as they apply in the officer's region, each with a form to change its
    thresholds (a new version, with the reason), and the recent changes."""
    return await _rules_page(request, web, session)


@router.post("/anomaly-rules/{rule_code}", response_model=None)
async def update_rule(
    rule_code: str, request: Request, web: StateDep, session: CsrfSession
) -> Response:
    """Save a rule's thresholds for the officer's region."""
    officer_only(session)
    form = await request.form()
    thresholds: dict[str, int] = {}
    for name, value in form.items():
        if name.startswith("t_"):
            text = str(value).strip()
            if not text.isdigit():
                return await _rules_page(
                    request, web, session, status_code=422, error="阈值请填写正整数。"
                )
            thresholds[name[2:]] = int(text)
    reason = str(form.get("reason", "")).strip()[:1000]
    if not reason:
        return await _rules_page(
            request, web, session, status_code=422, error="请填写修改理由，它会记入审计记录。"
        )
    try:
        expected = int(str(form.get("expected_version", "0")))
    except ValueError:
        expected = 0
    client = voucher_client(web, session)
    try:
        await client.update_rule(
            rule_code,
            {
                "region_code": session.region or "",
                "enabled": form.get("enabled") == "on",
                "thresholds": thresholds,
                "reason": reason,
                "expected_version": expected,
            },
        )
    except ApiError as exc:
        message = exc.friendly
        if exc.code == "VALIDATION_ERROR":
            message = "阈值超出允许范围，请按提示的范围填写。"
        return await _rules_page(request, web, session, status_code=exc.page_status, error=message)
    finally:
        await client.aclose()
    session.flash.append(("ok", "已保存，新阈值从下一次检测起生效。"))
    return RedirectResponse(f"/officer/anomaly-rules#rule-{rule_code}", status_code=303)
