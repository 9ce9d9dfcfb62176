"""The dashboard's figures by scanning the fact tables (`beneficiary`, `voucher`,
`redemption`) and the people's locations, and the ledger's postings: the statements the
dashboard ran before its summaries (docs/dashboard.md "Summaries"), kept as the reference the
summaries are checked against, by the tests (tests/voucher/redeem/test_dashboard_summary.py)
and by `yiyang bench dashboard --scan`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Beneficiary, Redemption, Voucher
from services.voucher.repository import dashboard as repo
from services.voucher.service import care_circle
from services.voucher.service.circle_summary import directory_points
from services.voucher.service.directory import ProviderDirectory


async def scan_enrolled(session: AsyncSession, like: str) -> list[tuple[int | None, str, int]]:
    b = Beneficiary
    rows = await session.execute(
        select(col(b.grade), col(b.care_setting), func.count())
        .where(col(b.region_code).like(like), col(b.status) == "active")
        .group_by(col(b.grade), col(b.care_setting))
    )
    return [(g, str(s), int(n)) for g, s, n in rows]


async def scan_enrolled_by_child(session: AsyncSession, like: str, digits: int) -> dict[str, int]:
    b = Beneficiary
    child = func.substr(col(b.region_code), 1, digits)
    rows = await session.execute(
        select(child, func.count())
        .where(col(b.region_code).like(like), col(b.status) == "active")
        .group_by(child)
    )
    return {str(k): int(n) for k, n in rows}


async def scan_use(
    session: AsyncSession, like: str, *, period: str | None, key: str, digits: int = 0
) -> list[repo.Use]:
    v, r = Voucher, Redemption
    group = {
        "program": col(v.program_code),
        "period": col(v.period),
        "child": func.substr(col(v.region_code), 1, digits),
    }[key]
    redeemed = (
        select(
            col(r.voucher_id).label("voucher_id"),
            func.count().label("n"),
            func.sum(col(r.subsidy_fen)).label("fen"),
        )
        .where(col(r.status) != "voided")
        .group_by(col(r.voucher_id))
        .subquery()
    )
    stmt = (
        select(
            group,
            func.count(),
            func.coalesce(func.sum(col(v.face_fen)), 0),
            func.coalesce(func.sum(redeemed.c.n), 0),
            func.coalesce(func.sum(redeemed.c.fen), 0),
        )
        .select_from(v)
        .outerjoin(redeemed, redeemed.c.voucher_id == col(v.id))
        .where(col(v.region_code).like(like))
        .group_by(group)
        .order_by(group)
    )
    if period is not None:
        stmt = stmt.where(col(v.period) == period)
    rows = await session.execute(stmt)
    return [repo.Use(str(k), int(a), int(b), int(c), int(d)) for k, a, b, c, d in rows]


async def scan_circle(
    session: AsyncSession, like: str, directory: ProviderDirectory, *, meal_m: int, care_m: int
) -> care_circle.Circle:
    """The care circle as the dashboard measured it before its summary: every active
    person's location in the subtree (`repository/dashboard.py` `located`) against the
    directory's approved providers on the grid of service/care_circle.py, in Python."""
    meal, care = [], []
    for p in directory_points(directory).values():
        point = care_circle.Point(p.lat, p.lon)
        if p.meal:
            meal.append(point)
        if p.care:
            care.append(point)
    return care_circle.measure(
        await repo.located(session, like), meal, care, meal_radius_m=meal_m, care_radius_m=care_m
    )


# The ledger's budget execution as it was read before `budget_execution` (postings to budget
# available summed by entry kind at every read); the balances part is unchanged.
SCAN_BUDGET = """
SELECT a.program_code, a.funding_source, e.kind, sum(p.amount_fen)
  FROM posting p JOIN entry e ON e.id = p.entry_id JOIN account a ON a.id = p.account_id
 WHERE a.code = '3001' AND a.region_code LIKE $1
   AND e.kind IN ('appropriation', 'commitment', 'expiry')
 GROUP BY 1, 2, 3"""
