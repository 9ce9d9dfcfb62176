"""Nearby search and the directory feed the voucher service polls."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import InvalidInput
from services.provider.config import ProviderSettings
from services.provider.errors import InvalidQuery
from services.provider.repository import providers as repo


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
) -> list[dict[str, Any]]:
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
    rows = await repo.nearby(
        session, lat=lat, lon=lon, radius_m=radius, kind=kind, category=category, limit=count
    )
    services = await repo.services_of(session, [r["id"] for r in rows])
    return [
        {
            **r,
            "id": str(r["id"]),
            "distance_m": round(r["distance_m"]),
            "services": services.get(str(r["id"]), []),
        }
        for r in rows
    ]


async def directory(session: AsyncSession, since: int) -> dict[str, Any]:
    """Everything changed after version `since` (0: everything), read from one snapshot, with
    the version it is complete up to."""
    if since < 0:
        raise InvalidInput("since must not be negative.", code="INVALID_QUERY", field="since")
    await repo.begin_snapshot(session)
    version = await repo.current_version(session)
    providers = await repo.providers_changed_since(session, since)
    terminals = await repo.terminals_changed_since(session, since)
    services = await repo.services_of(session, [p["id"] for p in providers])
    return {
        "version": version,
        "providers": [
            {**p, "id": str(p["id"]), "services": services.get(str(p["id"]), [])} for p in providers
        ],
        "terminals": [
            {**t, "id": str(t["id"]), "provider_id": str(t["provider_id"])} for t in terminals
        ],
    }
