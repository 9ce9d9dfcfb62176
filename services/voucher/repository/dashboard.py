"""The dashboard's figures, each one grouped statement over a region subtree (LIKE on the
region code's significant prefix). Scanning, not incremental: see docs/performance.md. The
service (service/dashboard.py) reads only these functions, so each can be swapped for a
summary table without touching it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Beneficiary, Redemption, Voucher
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
    b = Beneficiary
    rows = await session.execute(
        select(col(b.grade), col(b.care_setting), func.count())
        .where(col(b.region_code).like(like), col(b.status) == "active")
        .group_by(col(b.grade), col(b.care_setting))
    )
    return [(g, str(s), int(n)) for g, s, n in rows]


async def enrolled_by_child(session: AsyncSession, like: str, digits: int) -> dict[str, int]:
    b = Beneficiary
    child = func.substr(col(b.region_code), 1, digits)
    rows = await session.execute(
        select(child, func.count())
        .where(col(b.region_code).like(like), col(b.status) == "active")
        .group_by(child)
    )
    return {str(k): int(n) for k, n in rows}


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
    return [Use(str(k), int(a), int(b), int(c), int(d)) for k, a, b, c, d in rows]
