"""Outbox events from the voucher service (through its relay), and how their delivery goes."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import Principal, Role
from services.common.db import DatabaseDep
from services.ledger.api.deps import ERRORS, SERVICE_FINANCE_AUDITOR, SERVICE_ONLY, province_wide
from services.ledger.schemas import EventBatch, EventResults, MetricsRead
from services.ledger.service import audit, events
from services.ledger.settlement.service import copay as settlement_copay

router = APIRouter()


@router.post("/events", responses=ERRORS)
async def post_events(
    body: EventBatch, db: DatabaseDep, p: Principal = SERVICE_ONLY
) -> EventResults:
    """Apply a batch of outbox events in one transaction, each exactly once by `event_id`.
    Each result is `applied` (with `entry_id`), `duplicate` or `rejected` (with `error`)."""
    pool = db.raw_pool
    assert pool is not None, "the ledger starts its raw pool (main.py)"
    # How each online co-payment was paid, which claims need (its own unit of work).
    await settlement_copay.record_methods(db, body.events)
    return EventResults(results=await events.apply_events(pool, body.events, p.sub))


@router.get("/metrics", responses=ERRORS)
async def get_metrics(db: DatabaseDep, p: Principal = SERVICE_FINANCE_AUDITOR) -> MetricsRead:
    """Event application counts by type and outcome, entries posted, and delivery lag
    (book-wide, so people need a province-wide scope)."""
    if p.role != Role.service:
        province_wide(p)
    return await audit.metrics(db, events.METRICS)
