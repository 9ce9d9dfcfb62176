"""The care circle's grid (service/care_circle.py) finds a provider within a radius exactly
when comparing with every provider does, at any latitude and radius."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.voucher.service.care_circle import Grid, Point
from services.voucher.service.review_rules import distance_m

coords = st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05))


@settings(max_examples=100, deadline=None)
@given(
    base=st.tuples(st.floats(-60, 60), st.floats(-170, 170)),
    providers=st.lists(coords, max_size=12),
    person=coords,
    radius=st.integers(50, 5_000),
)
def test_the_grid_agrees_with_comparing_every_provider(base, providers, person, radius):
    points = [Point(base[0] + a, base[1] + b) for a, b in providers]
    lat, lon = base[0] + person[0], base[1] + person[1]
    brute = any(distance_m(lat, lon, p.lat, p.lon) <= radius for p in points)
    assert Grid(points).any_within(lat, lon, radius) == brute
