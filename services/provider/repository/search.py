"""Nearby search on PostgreSQL's built-in `point` (no PostGIS).

The partial GiST index `ix_provider_location_approved` (approved rows only) answers a bounding
box around the point (`location <@ box`); the exact haversine distance is then computed for
the few rows inside it, filtered to the radius and ordered. `status = 'approved'` is written
into the statement as a literal, never a parameter: the planner matches the partial index's
predicate only against a constant, also when it reuses a generic plan of the prepared statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Double, Select, exists, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import Provider, ServiceItem
from services.provider.service.geo import EARTH_RADIUS_M, bounding_box
from services.provider.service.vocabulary import ProviderStatus


@dataclass(frozen=True, slots=True)
class NearbyProvider:
    id: uuid.UUID
    name: str
    kind: str
    region_code: str
    address: str
    lat: float
    lon: float
    distance_m: float


def nearby_query(
    *,
    lat: float,
    lon: float,
    radius_m: int,
    kind: str | None = None,
    category: str | None = None,
    limit: int,
) -> Select[uuid.UUID, str, str, str, str, float, float, float]:
    """Approved providers within `radius_m` of (lat, lon), nearest first (then by id)."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(lat, lon, radius_m)
    here_lat = literal(lat, Double)
    here_lon = literal(lon, Double)

    def half_angle_sin_squared(degrees: ColumnElement[float]) -> ColumnElement[float]:
        return func.power(func.sin(func.radians(degrees, type_=Double) / 2.0, type_=Double), 2)

    # Haversine on a sphere of EARTH_RADIUS_M (the same radius as the bounding box).
    a = half_angle_sin_squared(col(Provider.lat) - here_lat) + func.cos(
        func.radians(here_lat, type_=Double), type_=Double
    ) * func.cos(func.radians(col(Provider.lat), type_=Double), type_=Double) * (
        half_angle_sin_squared(col(Provider.lon) - here_lon)
    )
    distance = (
        literal(EARTH_RADIUS_M, Double)
        * 2
        * func.asin(func.least(1.0, func.sqrt(a, type_=Double), type_=Double), type_=Double)
    )
    # Computed once per row, in a lateral subquery on the outer provider row.
    d = select(distance.label("distance_m")).correlate(Provider).lateral("d")
    box = func.box(
        func.point(literal(min_lon, Double), literal(min_lat, Double)),
        func.point(literal(max_lon, Double), literal(max_lat, Double)),
    )
    stmt = (
        select(
            col(Provider.id),
            col(Provider.name),
            col(Provider.kind),
            col(Provider.region_code),
            col(Provider.address),
            col(Provider.lat),
            col(Provider.lon),
            d.c.distance_m,
        )
        .select_from(Provider)
        .join(d, true())
        .where(
            col(Provider.status) == literal(ProviderStatus.approved.value, literal_execute=True),
            col(Provider.location).op("<@")(box),
            d.c.distance_m <= radius_m,
        )
        .order_by(d.c.distance_m, col(Provider.id))
        .limit(limit)
    )
    if kind:
        stmt = stmt.where(col(Provider.kind) == kind)
    if category:
        stmt = stmt.where(
            exists().where(
                col(ServiceItem.provider_id) == col(Provider.id),
                col(ServiceItem.category) == category,
            )
        )
    return stmt


async def nearby(
    session: AsyncSession,
    *,
    lat: float,
    lon: float,
    radius_m: int,
    kind: str | None,
    category: str | None,
    limit: int,
) -> list[NearbyProvider]:
    """Approved providers within `radius_m` of (lat, lon), nearest first."""
    result = await session.execute(
        nearby_query(lat=lat, lon=lon, radius_m=radius_m, kind=kind, category=category, limit=limit)
    )
    return [
        NearbyProvider(
            id=id_,
            name=name,
            kind=kind_,
            region_code=region_code,
            address=address,
            lat=lat_,
            lon=lon_,
            distance_m=distance_m,
        )
        for id_, name, kind_, region_code, address, lat_, lon_, distance_m in result
    ]
