"""Outbox events from the voucher service (through its relay), and how their delivery goes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from services.common.auth import Principal, Role, authenticate
from services.common.db import DatabaseDep, get_database
from services.common.lean import json_body
from services.ledger.api.deps import ERRORS, SERVICE_FINANCE_AUDITOR, SERVICE_ONLY, province_wide
from services.ledger.schemas import EventBatch, EventResults, MetricsRead
from services.ledger.service import audit, events
from services.ledger.settlement.service import copay as settlement_copay

router = APIRouter()


async def post_events(
    body: EventBatch, request: Request, p: Principal = SERVICE_ONLY
) -> EventResults:
    """Apply a batch of outbox events in one transaction, each exactly once by `event_id`.
    Each result is `applied` (with `entry_id`), `duplicate` or `rejected` (with `error`)."""
    return await _apply_batch(request, body, p)


async def _apply_batch(request: Request, body: EventBatch, p: Principal) -> EventResults:
    db = get_database(request)
    pool = db.raw_pool
    assert pool is not None, "the ledger starts its raw pool (main.py)"
    # How each online co-payment was paid, which claims need (its own unit of work).
    await settlement_copay.record_methods(db, body.events)
    return EventResults(results=await events.apply_events(pool, body.events, p.sub))


async def _post_events_lean(request: Request) -> Response:
    """POST /v1/events as the relay calls it (services/common/lean.py): the service role
    checked as SERVICE_ONLY does, the batch parsed straight from its bytes, the results
    written by their model's serializer. FastAPI's `json.loads` and validation of a batch
    were an eighth of the ledger's CPU an event."""
    p = await SERVICE_ONLY.dependency(await authenticate(request))
    body = json_body(await request.body(), EventBatch)
    results = await _apply_batch(request, body, p)
    return Response(results.model_dump_json(), media_type="application/json")


class LeanEventsRoute(APIRoute):
    """POST /v1/events: documented from `post_events`, served by `_post_events_lean`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return _post_events_lean


router.add_api_route(
    "/events",
    post_events,
    methods=["POST"],
    response_model=EventResults,
    responses=ERRORS,
    route_class_override=LeanEventsRoute,
)


@router.get("/metrics", responses=ERRORS)
async def get_metrics(db: DatabaseDep, p: Principal = SERVICE_FINANCE_AUDITOR) -> MetricsRead:
    """Event application counts by type and outcome, entries posted, and delivery lag
    (book-wide, so people need a province-wide scope)."""
    if p.role != Role.service:
        province_wide(p)
    return await audit.metrics(db, events.METRICS)
