"""The civil-affairs dashboard for a region subtree and period: who is enrolled (by grade, by
care setting), what was issued against what was redeemed (by programme), twelve months of
trend, the sub-regions one level down for drill-down; the budget's execution by programme
and funding source (asked of the ledger), providers by kind and status (the provider
directory this service keeps), and the 15-minute care circle (service/care_circle.py).

Every figure of our database comes from a summary table (provincial scale, docs/dashboard.md
"Summaries"): repository/dashboard.py for enrolment and use, repository/circle.py for the care
circle, whose providers and radii `circle_summary.sync` brings up to date before a read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.regions import significant_prefix
from services.voucher.clients import LedgerClient
from services.voucher.errors import LedgerUnavailable
from services.voucher.repository import circle as circle_repo
from services.voucher.repository import dashboard as repo
from services.voucher.schemas.dashboard import (
    BudgetLine,
    CareCircle,
    Community,
    DashboardRead,
    Enrolled,
    ProgramUse,
    ProviderCount,
    SubRegion,
    TrendPoint,
)
from services.voucher.service import care_circle
from services.voucher.service.assessment import add_months
from services.voucher.service.directory import ProviderDirectory
from services.voucher.service.periods import parse_period

# A level's code -> digits of the level below (province 45 -> city 4501, city -> county
# 450103, county -> township 450103001, township -> village).
_CHILD_DIGITS = {2: 4, 4: 6, 6: 9, 9: 12}


def used_bp(redeemed_fen: int, face_fen: int) -> int:
    """The share of the face value redeemed, in basis points, rounded down (0 of nothing)."""
    return redeemed_fen * 10_000 // face_fen if face_fen > 0 else 0


def child_code(prefix: str) -> str:
    """A sub-region's significant prefix as its GB/T 2260 code (4501 -> 450100)."""
    return prefix.ljust(6, "0") if len(prefix) < 6 else prefix


@dataclass(frozen=True)
class CircleRule:
    """The care circle's radii (metres) and how many communities it lists."""

    meal_radius_m: int = 1_000
    care_radius_m: int = 1_500
    top: int = 10


def providers_by_kind(directory: ProviderDirectory, prefix: str) -> list[ProviderCount]:
    """Providers registered in the subtree, by kind and status (the provider service's
    directory feed, which carries every provider whatever its status)."""
    counts: dict[tuple[str, str], int] = {}
    for p in directory.providers.values():
        if (p.region_code or "").startswith(prefix):
            counts[(p.kind, p.status)] = counts.get((p.kind, p.status), 0) + 1
    return [ProviderCount(kind=k, status=s, providers=n) for (k, s), n in sorted(counts.items())]


async def budget_lines(ledger: LedgerClient | None, region_code: str) -> list[BudgetLine] | None:
    """The ledger's budget execution for the subtree, or None when it cannot be read now
    (the rest of the dashboard still answers; the page says the budget is unavailable)."""
    if ledger is None:
        return None
    try:
        lines = await ledger.budget_execution(region_code)
    except LedgerUnavailable:
        return None
    return [
        BudgetLine(
            program_code=x.program_code,
            funding_source=x.funding_source,
            appropriated_fen=x.appropriated_fen,
            committed_fen=x.committed_fen,
            spent_fen=x.spent_fen,
            released_fen=x.released_fen,
            available_fen=x.available_fen,
        )
        for x in lines
    ]


async def dashboard(
    session: AsyncSession,
    region_code: str,
    period: str,
    *,
    directory: ProviderDirectory | None = None,
    ledger: LedgerClient | None = None,
    rule: CircleRule | None = None,
) -> DashboardRead:
    prefix = significant_prefix(region_code)
    rule = rule or CircleRule()
    like = prefix + "%"
    by_grade: dict[str, int] = {}
    by_setting: dict[str, int] = {}
    total = 0
    for grade, setting, n in await repo.enrolled(session, like):
        key = "none" if grade is None else str(grade)
        by_grade[key] = by_grade.get(key, 0) + n
        by_setting[setting] = by_setting.get(setting, 0) + n
        total += n
    programs = [
        ProgramUse(
            program_code=u.key,
            vouchers=u.vouchers,
            face_fen=u.face_fen,
            redemptions=u.redemptions,
            redeemed_fen=u.redeemed_fen,
            used_bp=used_bp(u.redeemed_fen, u.face_fen),
        )
        for u in await repo.use(session, like, period=period, key="program")
    ]
    first = add_months(parse_period(period), -11)
    since = f"{first.year:04d}-{first.month:02d}"
    trend = [
        TrendPoint(
            period=u.key, vouchers=u.vouchers, face_fen=u.face_fen, redeemed_fen=u.redeemed_fen
        )
        for u in await repo.use(session, like, period=None, key="period")
        if since <= u.key <= period
    ]
    # The circle as stored (service/circle_summary.py keeps it; the caller syncs the
    # directory and the radii first).
    circle = await circle_repo.circle(session, like)
    t = circle.total
    circle_read = CareCircle(
        meal_radius_m=rule.meal_radius_m,
        care_radius_m=rule.care_radius_m,
        active=t.active,
        exact=t.exact,
        covered=t.covered,
        uncovered=t.uncovered,
        covered_bp=t.covered_bp,
        meal_covered=t.meal_covered,
        care_covered=t.care_covered,
        approximate=t.approximate,
        unlocated=t.unlocated,
        communities=[
            Community(
                region_code=code,
                exact=c.exact,
                uncovered=c.uncovered,
                approximate=c.approximate,
            )
            for code, c in care_circle.most_uncovered(circle, rule.top)
        ],
    )
    subregions: list[SubRegion] = []
    digits = _CHILD_DIGITS.get(len(prefix))
    if digits is not None:
        tallies = care_circle.rollup(circle, digits)
        people = await repo.enrolled_by_child(session, like, digits)
        uses = {
            u.key: u
            for u in await repo.use(session, like, period=period, key="child", digits=digits)
        }
        for key in sorted(set(people) | set(uses)):
            if len(key) < digits:
                continue  # coded at this level, not in a sub-region (a county's own people)
            u = uses.get(key)
            c = tallies.get(key) or care_circle.Tally()
            subregions.append(
                SubRegion(
                    region_code=child_code(key),
                    enrolled=people.get(key, 0),
                    vouchers=u.vouchers if u else 0,
                    face_fen=u.face_fen if u else 0,
                    redeemed_fen=u.redeemed_fen if u else 0,
                    circle_exact=c.exact,
                    circle_covered=c.covered,
                    circle_covered_bp=c.covered_bp,
                )
            )
    return DashboardRead(
        region_code=region_code,
        period=period,
        enrolled=Enrolled(total=total, by_grade=by_grade, by_care_setting=by_setting),
        programs=programs,
        trend=trend,
        subregions=subregions,
        budget=await budget_lines(ledger, region_code),
        providers=providers_by_kind(directory, prefix) if directory else [],
        care_circle=circle_read,
    )
