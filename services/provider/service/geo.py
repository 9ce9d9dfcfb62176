"""Distances on the Earth for nearby search: the radius the SQL's haversine uses, and the
bounding box the GiST index answers. No I/O."""

from __future__ import annotations

import math

# Mean Earth radius (IUGG), metres; the haversine in SQL and the bounding box agree on it.
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180


def bounding_box(lat: float, lon: float, radius_m: int) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) that holds every point within `radius_m`.

    A degree of latitude is the same length everywhere; a degree of longitude shrinks with
    cos(latitude), taken at the edge nearer the pole so the box is never too small.
    """
    dlat = radius_m / _M_PER_DEGREE * 1.001 + 1e-6
    edge = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, dlat / max(math.cos(math.radians(edge)), 1e-3))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat
