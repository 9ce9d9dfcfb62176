"""Nearby search and the directory feed the voucher service polls."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import InvalidQuery
from services.provider.repository import directory as directory_repo
from services.provider.repository import providers as providers_repo
from services.provider.repository import search as search_repo


async def nearby(
    session: AsyncSession,
    settings: ProviderSettings,
    *,
    lat: float,
    lon: float,
    radius_m: int | None,
    kind: str | None,
    category: str | None,
    limit: int | None,
) -> list[schemas.NearbyProvider]:
    """Approved providers within the radius (default: the 15-minute care circle), nearest
    first, with the distance in whole metres."""
    radius = settings.nearby_default_radius_m if radius_m is None else radius_m
    if not 1 <= radius <= settings.nearby_max_radius_m:
        raise InvalidQuery(
            f"radius_m must be between 1 and {settings.nearby_max_radius_m}.", field="radius_m"
        )
    count = settings.nearby_max_results if limit is None else limit
    if not 1 <= count <= settings.nearby_max_results:
        raise InvalidQuery(
            f"limit must be between 1 and {settings.nearby_max_results}.", field="limit"
        )
    rows = await search_repo.nearby(
        session, lat=lat, lon=lon, radius_m=radius, kind=kind, category=category, limit=count
    )
    services = await providers_repo.services_of(session, [r.id for r in rows])
    return [
        schemas.NearbyProvider(
            id=str(r.id),
            name=r.name,
            kind=r.kind,
            region_code=r.region_code,
            address=r.address,
            lat=r.lat,
            lon=r.lon,
            distance_m=round(r.distance_m),
            services=[schemas.ServiceItemRead(**line) for line in services.get(r.id, [])],
        )
        for r in rows
    ]


async def directory(session: AsyncSession, since: int) -> schemas.DirectoryFeed:
    """Everything changed after version `since` (0: everything), with the version it is
    complete up to. The caller runs it in one snapshot (REPEATABLE READ), so the counter and
    the rows agree."""
    if since < 0:
        raise InvalidQuery("since must not be negative.", field="since")
    version = await directory_repo.current_version(session)
    providers = await directory_repo.providers_changed_since(session, since)
    terminals = await directory_repo.terminals_changed_since(session, since)
    services = await providers_repo.services_of(session, [p.id for p in providers])
    return schemas.DirectoryFeed(
        version=version,
        providers=[
            schemas.DirectoryProvider(
                id=str(p.id),
                name=p.name,
                kind=p.kind,
                status=p.status,
                region_code=p.region_code,
                lat=p.lat,
                lon=p.lon,
                services=[schemas.ServiceItemRead(**line) for line in services.get(p.id, [])],
                price_list_version=p.price_list_version,
            )
            for p in providers
        ],
        terminals=[
            schemas.DirectoryTerminal(
                id=str(t.id),
                provider_id=str(t.provider_id),
                name=t.name,
                status=t.status,
                secret_sha256=t.secret_sha256,
            )
            for t in terminals
        ],
    )
