"""Whatever arrives, the answer is a 4xx with a stable code, never a 500."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CODE = re.compile(r"^[A-Z][A-Z0-9_]+$")

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def ctx(shared_ctx):
    return shared_ctx


async def test_junk_bodies_and_queries_are_refused_cleanly(ctx):
    pid = await ctx.approved()
    tid = (
        await ctx.c.post(
            f"/v1/providers/{pid}/terminals", json={"name": "t"}, headers=ctx.admin(pid)
        )
    ).json()["terminal_id"]
    admin, officer = ctx.admin(pid), ctx.officer
    calls = [
        ("POST", "/v1/providers", officer),
        ("PATCH", f"/v1/providers/{pid}", admin),
        ("PUT", f"/v1/providers/{pid}/services", admin),
        ("POST", f"/v1/providers/{pid}/approve", officer),
        ("POST", f"/v1/providers/{pid}/request-changes", officer),
        ("POST", f"/v1/providers/{pid}/refuse", officer),
        ("POST", f"/v1/providers/{pid}/resubmit", admin),
        ("POST", f"/v1/providers/{pid}/documents", admin),
        ("POST", f"/v1/providers/{pid}/credit-events", officer),
        ("POST", f"/v1/providers/{pid}/terminals", admin),
        ("PATCH", f"/v1/providers/{pid}/terminals/{tid}", admin),
    ]
    before = await ctx.counts()

    # Hypothesis draws the cases (synchronously); they are then sent on the test's loop.
    cases: list = []

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.sampled_from(calls), junk)
    def draw(call, body):
        cases.append((*call, body))

    draw()
    for method, path, headers, body in cases:
        r = await ctx.c.request(method, path, json=body, headers=headers)
        assert 400 <= r.status_code < 500, (method, path, body, r.text)
        assert CODE.match(r.json()["error"]["code"])
    for params in (
        {"lat": "1e999", "lon": 1},
        {"lat": 1, "lon": 1, "radius_m": 2**70},
        {"lat": 1, "lon": 1, "limit": -1},
        {"lat": 1, "lon": 1, "category": 5},
        {"status": "nope"},
        {"region_code": "'; drop table provider; --"},
    ):
        r = await ctx.c.get("/v1/providers", params=params, headers=officer)
        assert 400 <= r.status_code < 500, (params, r.text)
    assert await ctx.counts() == before
