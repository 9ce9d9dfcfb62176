"""Events from the voucher service's outbox, applied exactly once by event_id.

A batch is one transaction under the book's head lock: events are planned (service/plans.py),
the accounts they touch resolved in one statement, then accepted or rejected in order against
the running balances, and the accepted entries written with a few multi-row statements.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.common.db import retry_transaction
from services.ledger import chart, hashing
from services.ledger.errors import EventRejected
from services.ledger.repository import journal as repo
from services.ledger.schemas import EVENT_PAYLOADS, EventIn
from services.ledger.service import plans
from services.ledger.service.plans import EntryPlan

# Process counters for /v1/metrics (the database holds the durable counts).
METRICS: Counter[str] = Counter()


def _rejected(event_id: uuid.UUID, code: str, message: str) -> dict[str, Any]:
    return {
        "event_id": str(event_id),
        "status": "rejected",
        "error": {"code": code, "message": message},
    }


async def apply_events(
    pool: asyncpg.Pool, events: list[EventIn], created_by: str
) -> list[dict[str, Any]]:
    """Apply a batch of outbox events in one transaction, each exactly once by event_id.

    An event seen before answers as before ("duplicate" if it was applied, the same refusal
    if it was rejected); the same event_id with a different body is refused as
    EVENT_ID_REUSED. A new event that cannot be applied (an unknown redemption to void, an
    amount that would overdraw vouchers outstanding, a malformed payload) is recorded as
    rejected, so every retry gets the same answer.
    """

    async def attempt() -> list[dict[str, Any]]:
        async with pool.acquire() as conn, conn.transaction():
            head = await repo.lock_head(conn)
            return await _apply(conn, head, events, created_by)

    results = await retry_transaction(attempt)
    for r in results:
        METRICS[f"events_{r['status']}"] += 1
    METRICS["batches"] += 1
    return results


async def _apply(
    conn: asyncpg.Connection, head: repo.Head, events: list[EventIn], created_by: str
) -> list[dict[str, Any]]:
    seen = await repo.events_by_id(conn, [e.event_id for e in events])
    redemption_refs = sorted(
        {str(e.payload.get("redemption_id")) for e in events if e.type.startswith("redemption.")}
    )
    known: dict[str, EntryPlan] = {}
    if redemption_refs:
        for plan in await repo.entries_with_postings(
            conn, "e.kind = 'redemption' AND e.ref = ANY($1::text[])", redemption_refs
        ):
            known[plan.ref or ""] = plan

    results: list[dict[str, Any] | None] = [None] * len(events)
    fingerprints: list[bytes] = []
    first_index: dict[uuid.UUID, int] = {}
    pending: list[tuple[int, EntryPlan, EntryPlan | None]] = []  # (index, plan, voided original)
    new_events: dict[int, dict[str, Any]] = {}

    for i, ev in enumerate(events):
        fp = hashing.request_hash("event", ev.model_dump(mode="json", exclude={"event_id"}))
        fingerprints.append(fp)
        if ev.event_id in first_index:
            continue  # answered after the first occurrence is decided
        first_index[ev.event_id] = i
        old = seen.get(ev.event_id)
        if old is not None:
            if bytes(old["request_hash"]) != fp:
                results[i] = _rejected(
                    ev.event_id,
                    "EVENT_ID_REUSED",
                    "This event id was delivered before with another body.",
                )
            elif old["status"] == "applied":
                results[i] = {
                    "event_id": str(ev.event_id),
                    "status": "duplicate",
                    "entry_id": str(old["entry_id"]),
                }
            else:
                results[i] = _rejected(ev.event_id, old["error_code"], old["error_message"])
            continue
        new_events[i] = {
            "event_id": ev.event_id,
            "type": ev.type,
            "request_hash": fp,
            "occurred_at": ev.occurred_at,
        }
        try:
            plan, original = _plan_event(ev, created_by, known)
        except EventRejected as refusal:
            results[i] = _rejected(ev.event_id, refusal.code, refusal.message)
            continue
        pending.append((i, plan, original))

    accounts = await repo.resolve_accounts(
        conn, (p.account for _, plan, _ in pending for p in plan.postings)
    )
    balances = {k: v[1] for k, v in accounts.items()}
    accepted: list[EntryPlan] = []
    accepted_ids: set[uuid.UUID] = set()
    for i, plan, original in pending:
        ev = events[i]
        refusal = None
        if original is not None:
            if original.already_reversed:
                refusal = ("ALREADY_VOIDED", "This redemption was already voided.")
            elif not original.in_db and original.id not in accepted_ids:
                refusal = ("UNKNOWN_REDEMPTION", "The redemption to void was not applied.")
        deltas = plan.deltas()
        if refusal is None:
            for key, delta in sorted(deltas.items(), key=lambda kv: kv[0].sort_key()):
                if plans.overdraws(balances[key], delta, key):
                    code = (
                        "BUDGET_EXCEEDED"
                        if key.code == chart.BUDGET_AVAILABLE
                        else "INSUFFICIENT_BALANCE"
                    )
                    message = f"Account {key.code} of region {key.region_code} would be overdrawn."
                    refusal = (code, message)
                    break
        if refusal is not None:
            results[i] = _rejected(ev.event_id, *refusal)
            continue
        for key, delta in deltas.items():
            balances[key] += delta
        if original is not None:
            original.already_reversed = True
        accepted.append(plan)
        accepted_ids.add(plan.id)
        results[i] = {"event_id": str(ev.event_id), "status": "applied", "entry_id": str(plan.id)}

    await repo.write_entries(conn, head, accepted, accounts)
    rows = []
    for i, row in new_events.items():
        r = results[i]
        assert r is not None
        rows.append(
            {
                **row,
                "status": r["status"],
                "entry_id": uuid.UUID(r["entry_id"]) if r["status"] == "applied" else None,
                "error_code": r.get("error", {}).get("code"),
                "error_message": r.get("error", {}).get("message"),
            }
        )
    await repo.insert_events(conn, rows)

    for i, ev in enumerate(events):
        if results[i] is not None:
            continue
        first = results[first_index[ev.event_id]]
        assert first is not None
        if fingerprints[i] != fingerprints[first_index[ev.event_id]]:
            results[i] = _rejected(
                ev.event_id,
                "EVENT_ID_REUSED",
                "This event id was delivered before with another body.",
            )
        elif first["status"] == "applied":
            results[i] = {**first, "status": "duplicate"}
        else:
            results[i] = first
    return results  # type: ignore[return-value]


def _plan_event(
    ev: EventIn, created_by: str, known: dict[str, EntryPlan]
) -> tuple[EntryPlan, EntryPlan | None]:
    """The entry an event posts (and, for a void, the redemption entry it reverses)."""
    model = EVENT_PAYLOADS.get(ev.type)
    if model is None:
        raise EventRejected(f"Unknown event type {ev.type!r}.", code="UNKNOWN_EVENT_TYPE")
    try:
        p = model.model_validate(ev.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first.get("loc", ())) or "payload"
        raise EventRejected(
            f"payload.{field}: {first.get('msg')}", code="INVALID_PAYLOAD"
        ) from None
    common = {
        "created_by": created_by,
        "event_id": ev.event_id,
        "idempotency_key": f"event:{ev.event_id}",
    }
    if ev.type == "redemption.created":
        if p.gross_fen != p.subsidy_fen + p.copay_fen:
            raise EventRejected(
                "gross_fen must equal subsidy_fen + copay_fen.", code="AMOUNT_MISMATCH"
            )
        if p.redemption_id in known:
            raise EventRejected("This redemption was already posted.", code="DUPLICATE_REDEMPTION")
        plan = plans.redemption(
            program_code=p.program_code,
            budget_region_code=p.budget_region_code,
            provider_id=p.provider_id,
            subsidy_fen=p.subsidy_fen,
            shares_bp=p.funding_shares,
            beneficiary_id=p.beneficiary_id,
            voucher_id=p.voucher_id,
            ref=p.redemption_id,
            **common,
        )
        known[p.redemption_id] = plan
        return plan, None
    if ev.type == "redemption.voided":
        original = known.get(p.redemption_id)
        if original is None:
            raise EventRejected("No posted redemption has this id.", code="UNKNOWN_REDEMPTION")
        posted = sum(
            x.amount_fen for x in original.postings if x.account.code == chart.VOUCHERS_OUTSTANDING
        )
        if posted != p.subsidy_fen:
            raise EventRejected(
                "subsidy_fen differs from the posted redemption.", code="AMOUNT_MISMATCH"
            )
        plan = plans.reversal(original, kind="redemption_void", memo=p.reason, **common)
        return plan, original
    if ev.type == "voucher.expired":
        plan = plans.expiry(
            program_code=p.program_code,
            budget_region_code=p.budget_region_code,
            released_fen=p.released_fen,
            shares_bp=p.funding_shares,
            beneficiary_id=p.beneficiary_id,
            voucher_id=p.voucher_id,
            ref=p.voucher_id,
            **common,
        )
        return plan, None
    if ev.type in ("copay.received", "copay.refunded"):
        if not plans.copay_is_posted(p.method):
            raise EventRejected(
                "A cash co-payment is the provider's money, not the "
                "department's: the ledger posts nothing for it.",
                code="CASH_COPAY_NOT_POSTED",
            )
        plan = plans.copay(
            received=ev.type == "copay.received",
            program_code=p.program_code,
            budget_region_code=p.budget_region_code,
            provider_id=p.provider_id,
            amount_fen=p.amount_fen,
            beneficiary_id=p.beneficiary_id,
            voucher_id=p.voucher_id,
            ref=p.copayment_id,
            **common,
        )
        return plan, None
    plan = plans.cash_benefit(
        program_code=p.program_code,
        budget_region_code=p.budget_region_code,
        beneficiary_id=p.beneficiary_id,
        amount_fen=p.amount_fen,
        shares_bp=p.funding_shares,
        ref=p.benefit_id,
        **common,
    )
    return plan, None
