"""The care circle's stored state (migrations/sql/care_circle_summary.sql): the rule's radii,
the providers it counts (`care_circle_point`), and the per-region sums the dashboard reads
(`summary_care_circle`). The people's rows are kept by triggers on `beneficiary`; nothing
here writes them except through those triggers and `care_circle_remeasure`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import CareCirclePoint, CareCircleRule, SummaryCareCircle
from services.voucher.service.care_circle import Circle, Tally


@dataclass(frozen=True, slots=True)
class StoredPoint:
    lat: float
    lon: float
    meal: bool
    care: bool


async def lock_rule(session: AsyncSession) -> tuple[int, int]:
    """The stored radii (meal, care), the rule's row locked until commit: provider syncs
    take turns, and a person's trigger (which share-locks it) waits for a sync."""
    row = (
        await session.execute(
            select(col(CareCircleRule.meal_radius_m), col(CareCircleRule.care_radius_m))
            .where(col(CareCircleRule.id) == 1)
            .with_for_update()
        )
    ).one()
    return int(row[0]), int(row[1])


async def set_rule(session: AsyncSession, meal_radius_m: int, care_radius_m: int) -> int:
    """New radii, then every exactly located person re-measured; rows changed."""
    await session.execute(
        update(CareCircleRule)
        .where(col(CareCircleRule.id) == 1)
        .values(meal_radius_m=meal_radius_m, care_radius_m=care_radius_m)
    )
    return await remeasure_everyone(session)


async def remeasure_everyone(session: AsyncSession) -> int:
    """Every exactly located person against the stored points (the full recompute)."""
    remeasure = select(func.care_circle_remeasure(null()))
    return int((await session.execute(remeasure)).scalar_one())


async def points(session: AsyncSession) -> dict[str, StoredPoint]:
    p = CareCirclePoint
    rows = await session.execute(
        select(col(p.provider_id), col(p.lat), col(p.lon), col(p.meal), col(p.care))
    )
    return {str(i): StoredPoint(float(a), float(b), bool(m), bool(c)) for i, a, b, m, c in rows}


async def put_points(session: AsyncSession, changed: dict[str, StoredPoint]) -> None:
    """Insert or replace the points in one statement (the trigger re-measures once)."""
    if not changed:
        return
    stmt = insert(CareCirclePoint).values(
        [
            {"provider_id": i, "lat": p.lat, "lon": p.lon, "meal": p.meal, "care": p.care}
            for i, p in sorted(changed.items())
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[col(CareCirclePoint.provider_id)],
            set_={
                "lat": stmt.excluded.lat,
                "lon": stmt.excluded.lon,
                "meal": stmt.excluded.meal,
                "care": stmt.excluded.care,
            },
        )
    )


async def drop_points(session: AsyncSession, provider_ids: list[str]) -> None:
    if provider_ids:
        await session.execute(
            delete(CareCirclePoint).where(col(CareCirclePoint.provider_id).in_(provider_ids))
        )


async def circle(session: AsyncSession, like: str) -> Circle:
    """The care circle of the subtree from `summary_care_circle`: a tally per people's own
    region code (what service/care_circle.py's `most_uncovered` and `rollup` take) and the
    total over them."""
    s = SummaryCareCircle
    names = ("active", "exact", "covered", "meal_covered", "care_covered", "approximate")
    rows = await session.execute(
        select(
            col(s.region_code),
            *(col(getattr(s, n)) for n in names),
            col(s.unlocated),
        ).where(col(s.region_code).like(like), col(s.active) != 0)
    )
    out = Circle(Tally())
    for code, *figures in rows:
        t = Tally(*(int(x) for x in figures))
        out.by_region[str(code)] = t
        for name in (*names, "unlocated"):
            setattr(out.total, name, getattr(out.total, name) + getattr(t, name))
    return out
