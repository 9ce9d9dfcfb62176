"""Routes: the voucher service's part of the civil-affairs dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.voucher.api.deps import DirectoryDep
from services.voucher.schemas.dashboard import DashboardRead
from services.voucher.service import circle_summary, summary
from services.voucher.service import dashboard as service
from services.voucher.service.identity import check_region
from services.voucher.service.periods import current_period, parse_period

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_model=DashboardRead)
async def get_dashboard(
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    region_code: Annotated[str, Query(max_length=12)],
    period: Annotated[str | None, Query(max_length=7, description="YYYY-MM")] = None,
    principal: Principal = require(Role.civil_affairs, Role.finance, Role.auditor, Role.service),
) -> DashboardRead:
    """For a region subtree (in the caller's scope) and period (default this month): active
    people enrolled by grade and care setting; per programme the vouchers issued (count, face)
    against their redemptions not voided (count, subsidy, share used); twelve months of
    trend; the sub-regions one level down (drill-down, each with its care circle); the
    budget's execution by programme and funding source over the subtree's budget regions
    (the ledger's `GET /v1/budget/execution`; null when the ledger cannot be read now);
    providers registered in the subtree by kind and status (the provider directory); the
    15-minute care circle (radii: YIYANG_VOUCHER_CARE_CIRCLE_*) with the communities that
    have the most uncovered people."""
    region = check_region(region_code)
    principal.ensure_region(region)
    period = period or current_period()
    parse_period(period)
    s = request.app.state.settings
    # Redemptions and voids not yet summed are folded in first (the summaries, docs/dashboard.md).
    await summary.catch_up(
        request.app.state.db, batch_size=s.summary_batch_size, settle_s=s.summary_settle_s
    )
    # The directory's providers and the radii into the care circle's summary (only what
    # changed: the people within reach of a provider that came, went or moved).
    await circle_summary.sync(
        request.app.state.db,
        directory,
        meal_radius_m=s.care_circle_meal_radius_m,
        care_radius_m=s.care_circle_care_radius_m,
    )
    return await service.dashboard(
        session,
        region,
        period,
        directory=directory,
        ledger=getattr(request.app.state, "ledger", None),
        rule=service.CircleRule(
            s.care_circle_meal_radius_m,
            s.care_circle_care_radius_m,
            s.care_circle_top_communities,
        ),
    )
