"""The dashboard's figures over a region subtree (LIKE on the region code's significant
prefix). Enrolment and use read the summaries (`summary_enrolment`, `summary_use`: a row per
region code, summed up the levels here), never the fact tables: docs/dashboard.md
"Summaries". The care circle (`located`) still reads every active person of the subtree
(docs/performance.md). The service (service/dashboard.py) reads only these functions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Beneficiary, SummaryEnrolment, SummaryUse
from services.voucher.service.care_circle import Located


@dataclass(frozen=True, slots=True)
class Use:
    key: str
    vouchers: int
    face_fen: int
    redemptions: int
    redeemed_fen: int


async def enrolled(session: AsyncSession, like: str) -> list[tuple[int | None, str, int]]:
    """(grade, care setting, people) of the active people in the subtree."""
    e = SummaryEnrolment
    n = func.sum(col(e.n))
    rows = await session.execute(
        select(col(e.grade), col(e.care_setting), n)
        .where(col(e.region_code).like(like))
        .group_by(col(e.grade), col(e.care_setting))
        .having(n > 0)
    )
    return [(None if g < 0 else int(g), str(s), int(c)) for g, s, c in rows]


async def enrolled_by_child(session: AsyncSession, like: str, digits: int) -> dict[str, int]:
    e = SummaryEnrolment
    child = func.substr(col(e.region_code), 1, digits)
    n = func.sum(col(e.n))
    rows = await session.execute(
        select(child, n).where(col(e.region_code).like(like)).group_by(child).having(n > 0)
    )
    return {str(k): int(c) for k, c in rows}


async def located(session: AsyncSession, like: str) -> list[Located]:
    """The active people of the subtree with their registered location (the care circle)."""
    b = Beneficiary
    rows = await session.execute(
        select(col(b.region_code), col(b.lat), col(b.lon), col(b.location_approximate)).where(
            col(b.region_code).like(like), col(b.status) == "active"
        )
    )
    return [Located(str(r), lat, lon, bool(a)) for r, lat, lon, a in rows]


async def use(
    session: AsyncSession, like: str, *, period: str | None, key: str, digits: int = 0
) -> list[Use]:
    """Vouchers (count, face) and their redemptions that were not voided (count, subsidy),
    grouped by `key`: `program` (one period), `period` (every period), or `child` (the
    sub-region of `digits` digits, one period)."""
    u = SummaryUse
    group = {
        "program": col(u.program_code),
        "period": col(u.period),
        "child": func.substr(col(u.region_code), 1, digits),
    }[key]
    vouchers = func.sum(col(u.vouchers))
    stmt = (
        select(
            group,
            vouchers,
            func.sum(col(u.face_fen)),
            func.sum(col(u.redemptions)),
            func.sum(col(u.redeemed_fen)),
        )
        .where(col(u.region_code).like(like))
        .group_by(group)
        .having(vouchers > 0)
        .order_by(group)
    )
    if period is not None:
        stmt = stmt.where(col(u.period) == period)
    rows = await session.execute(stmt)
    return [Use(str(k), int(a), int(b), int(c), int(d)) for k, a, b, c, d in rows]
