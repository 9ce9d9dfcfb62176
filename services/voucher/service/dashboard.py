"""The voucher service's part of the civil-affairs dashboard for a region subtree and period:
who is enrolled (by grade, by care setting), what was issued against what was redeemed (by
programme), twelve months of trend, and the sub-regions one level down for drill-down."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.regions import significant_prefix
from services.voucher.repository import dashboard as repo
from services.voucher.schemas.dashboard import (
    DashboardRead,
    Enrolled,
    ProgramUse,
    SubRegion,
    TrendPoint,
)
from services.voucher.service.assessment import add_months
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


async def dashboard(session: AsyncSession, region_code: str, period: str) -> DashboardRead:
    prefix = significant_prefix(region_code)
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
    subregions: list[SubRegion] = []
    digits = _CHILD_DIGITS.get(len(prefix))
    if digits is not None:
        people = await repo.enrolled_by_child(session, like, digits)
        uses = {
            u.key: u
            for u in await repo.use(session, like, period=period, key="child", digits=digits)
        }
        for key in sorted(set(people) | set(uses)):
            if len(key) < digits:
                continue  # coded at this level, not in a sub-region (a county's own people)
            u = uses.get(key)
            subregions.append(
                SubRegion(
                    region_code=child_code(key),
                    enrolled=people.get(key, 0),
                    vouchers=u.vouchers if u else 0,
                    face_fen=u.face_fen if u else 0,
                    redeemed_fen=u.redeemed_fen if u else 0,
                )
            )
    return DashboardRead(
        region_code=region_code,
        period=period,
        enrolled=Enrolled(total=total, by_grade=by_grade, by_care_setting=by_setting),
        programs=programs,
        trend=trend,
        subregions=subregions,
    )
