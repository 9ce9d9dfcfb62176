"""The reassessment due list and the quarterly spot reassessment draws (SQLAlchemy on
`Beneficiary`, `Assessment`, `SpotDraw` and `SpotDrawMember`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import Assessment, Beneficiary, SpotDraw, SpotDrawMember

# --- who is due ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueRow:
    id: uuid.UUID
    name: str
    national_id_enc: bytes
    region_code: str
    grade: int | None
    grade_valid_until: date
    care_setting: str


async def due(
    session: AsyncSession,
    *,
    region_prefix: str,
    until: date,
    after: tuple[date, uuid.UUID] | None,
    limit: int | None,
) -> list[DueRow]:
    """Active people under the region whose newest assessment is valid only until `until`
    or earlier (lapsed ones included), soonest first; a keyset page after `after`."""
    b = Beneficiary
    query = (
        select(
            col(b.id),
            col(b.name),
            col(b.national_id_enc),
            col(b.region_code),
            col(b.grade),
            col(b.grade_valid_until),
            col(b.care_setting),
        )
        .where(
            col(b.region_code).startswith(region_prefix, autoescape=True),
            col(b.status) == "active",
            col(b.grade_valid_until) <= until,
        )
        .order_by(col(b.grade_valid_until), col(b.id))
    )
    if after is not None:
        query = query.where(tuple_(col(b.grade_valid_until), col(b.id)) > tuple_(*after))
    if limit is not None:
        query = query.limit(limit)
    return [
        DueRow(r[0], r[1], r[2], r[3], r[4], r[5] or date.min, r[6])
        for r in await session.execute(query)
    ]


# --- spot draws ----------------------------------------------------------------------------


async def active_ids(session: AsyncSession, region_prefix: str) -> list[uuid.UUID]:
    """Who a spot draw may pick: the active people under the region."""
    b = Beneficiary
    rows = await session.scalars(
        select(col(b.id)).where(
            col(b.region_code).startswith(region_prefix, autoescape=True),
            col(b.status) == "active",
        )
    )
    return list(rows.all())


@dataclass(frozen=True, slots=True)
class NewDraw:
    id: uuid.UUID
    region_code: str
    quarter: str
    share_bp: int
    seed: str
    population: int
    population_hash: str
    drawn: int
    created_by: str


async def insert_draw(session: AsyncSession, draw: NewDraw, members: list[uuid.UUID]) -> bool:
    """Record a draw and its people; False (nothing written) when the region's quarter was
    drawn already. Of two racing draws the second waits on the unique key until the first
    commits, then writes nothing."""
    created = await session.scalar(
        pg_insert(SpotDraw)
        .values(
            id=draw.id,
            region_code=draw.region_code,
            quarter=draw.quarter,
            share_bp=draw.share_bp,
            seed=draw.seed,
            population=draw.population,
            population_hash=draw.population_hash,
            drawn=draw.drawn,
            created_by=draw.created_by,
        )
        .on_conflict_do_nothing(index_elements=[col(SpotDraw.region_code), col(SpotDraw.quarter)])
        .returning(col(SpotDraw.id))
    )
    if created is None:
        return False
    if members:
        await session.execute(
            insert(SpotDrawMember),
            [
                {"draw_id": draw.id, "beneficiary_id": person, "rank": rank}
                for rank, person in enumerate(members, start=1)
            ],
        )
    return True


async def draw_of(session: AsyncSession, region_code: str, quarter: str) -> SpotDraw | None:
    return await session.scalar(
        select(SpotDraw).where(
            col(SpotDraw.region_code) == region_code, col(SpotDraw.quarter) == quarter
        )
    )


async def get_draw(session: AsyncSession, draw_id: uuid.UUID) -> SpotDraw | None:
    return await session.scalar(select(SpotDraw).where(col(SpotDraw.id) == draw_id))


async def draws(session: AsyncSession, region_prefix: str, limit: int) -> list[SpotDraw]:
    """The newest draws of regions under the prefix."""
    return list(
        (
            await session.scalars(
                select(SpotDraw)
                .where(col(SpotDraw.region_code).startswith(region_prefix, autoescape=True))
                .order_by(col(SpotDraw.quarter).desc(), col(SpotDraw.region_code))
                .limit(limit)
            )
        ).all()
    )


@dataclass(frozen=True, slots=True)
class MemberRow:
    rank: int
    id: uuid.UUID
    name: str
    national_id_enc: bytes
    region_code: str
    grade: int | None
    reassessed_on: date | None


async def members(session: AsyncSession, draw_id: uuid.UUID, drawn_at: datetime) -> list[MemberRow]:
    """A draw's people in draw order, with the newest assessment recorded since the draw."""
    b, m, a = Beneficiary, SpotDrawMember, Assessment
    since = (
        select(func.max(col(a.assessed_on)))
        .where(col(a.beneficiary_id) == col(b.id), col(a.created_at) >= drawn_at)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            col(m.rank),
            col(b.id),
            col(b.name),
            col(b.national_id_enc),
            col(b.region_code),
            col(b.grade),
            since,
        )
        .join(b, col(b.id) == col(m.beneficiary_id))
        .where(col(m.draw_id) == draw_id)
        .order_by(col(m.rank))
    )
    return [MemberRow(*r) for r in rows]
