"""POST /v1/events is served by its lean handler (services/common/lean.py), yet documented
and answered like the declared route: the relay's batch parsed once from its bytes."""

from __future__ import annotations

from fastapi.routing import APIRoute

from services.ledger.api.events import LeanEventsRoute, _post_events_lean
from services.ledger.api.events import router as events_router
from tests.ledger.conftest import redemption


async def test_the_events_route_is_lean_documented_and_answers_as_before(ledger, tokens):
    funded = ledger
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert (await ledger.commit(10_000)).status_code == 201
    routes = [
        r
        for r in events_router.routes
        if isinstance(r, APIRoute) and r.path == "/events" and "POST" in r.methods
    ]
    assert len(routes) == 1 and isinstance(routes[0], LeanEventsRoute)
    assert routes[0].get_route_handler() is _post_events_lean

    doc = (await funded.c.get("/openapi.json")).json()
    op = doc["paths"]["/v1/events"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/EventBatch"
    )
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/EventResults"
    )

    ev = redemption(7)
    first = await funded.c.post("/v1/events", headers=funded.service, json={"events": [ev]})
    again = await funded.c.post("/v1/events", headers=funded.service, json={"events": [ev]})
    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"] == "application/json"
    [applied], [duplicate] = first.json()["results"], again.json()["results"]
    assert applied == {
        "event_id": ev["event_id"],
        "status": "applied",
        "entry_id": applied["entry_id"],
    }
    assert duplicate == {**applied, "status": "duplicate"}

    # authenticated first, then the role, then the body (as the declared route checks)
    bad = {"events": "no"}
    assert (await funded.c.post("/v1/events", json=bad)).status_code == 401
    officer = tokens.headers("finance", region="450000")
    assert (await funded.c.post("/v1/events", headers=officer, json=bad)).status_code == 403
    r = await funded.c.post("/v1/events", headers=funded.service, json=bad)
    assert r.status_code == 422 and r.json()["error"]["field"] == "events", r.text
