"""Events from the voucher service's outbox, applied exactly once by event_id.

A batch is one transaction under the book's head lock: events are planned (service/plans.py),
the accounts they touch resolved in one statement, then accepted or rejected in order against
the running balances, and the accepted entries written with a few multi-row statements.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import TypedDict

import asyncpg
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from services.common.db import retry_transaction
from services.common.errors import InvalidInput
from services.ledger.errors import (
    AlreadyVoided,
    AmountMismatch,
    BudgetExceeded,
    CashCopayNotPosted,
    DuplicateRedemption,
    EventIdReused,
    EventRejected,
    InsufficientBalance,
    InvalidPayload,
    UnknownEventType,
    UnknownRedemption,
)
from services.ledger.repository import posting
from services.ledger.repository.posting import EventRecord
from services.ledger.schemas import (
    EVENT_PAYLOADS,
    CashBenefitIssued,
    CopayMoved,
    EventApplied,
    EventError,
    EventIn,
    EventRefused,
    EventResult,
    RedemptionCreated,
    RedemptionRecovered,
    RedemptionVoided,
    VoucherExpired,
)
from services.ledger.service import chart, hashing, plans
from services.ledger.service.books import book_of
from services.ledger.service.plans import EntryPlan

# Process counters for /v1/metrics (the database holds the durable counts).
METRICS: Counter[str] = Counter()


def _refused(event_id: uuid.UUID, refusal: EventRejected) -> EventRefused:
    return EventRefused(
        event_id=event_id,
        status="rejected",
        error=EventError(code=refusal.code, message=refusal.message),
    )


def _stored_refusal(event_id: uuid.UUID, code: str, message: str) -> EventRefused:
    return EventRefused(
        event_id=event_id, status="rejected", error=EventError(code=code, message=message)
    )


async def apply_events(
    pool: asyncpg.Pool, events: list[EventIn], created_by: str
) -> list[EventResult]:
    """Apply a batch of outbox events in one transaction, each exactly once by event_id.

    An event seen before answers as before ("duplicate" if it was applied, the same refusal
    if it was rejected); the same event_id with a different body is refused as
    EVENT_ID_REUSED. A new event that cannot be applied (an unknown redemption to void, an
    amount that would overdraw vouchers outstanding, a malformed payload) is recorded as
    rejected, so every retry gets the same answer.
    """

    # The books the batch writes, locked first (in book order) so that what is read next
    # (events seen, balances) is stable until COMMIT; a partitioned relay sends one book.
    books = {book_of(_budget_region(e)) for e in events}

    async def attempt() -> list[EventResult]:
        async with pool.acquire() as conn, conn.transaction():
            heads = await posting.lock_heads(conn, books)
            return await _apply(conn, heads, events, created_by)

    results = await retry_transaction(attempt)
    for r in results:
        METRICS[f"events_{r.status}"] += 1
    METRICS["batches"] += 1
    return results


def _budget_region(event: EventIn) -> str | None:
    region = event.payload.get("budget_region_code")
    return region if isinstance(region, str) else None


async def _apply(
    conn: asyncpg.Connection, heads: posting.Heads, events: list[EventIn], created_by: str
) -> list[EventResult]:
    seen = await posting.events_by_id(conn, [e.event_id for e in events])
    redemption_refs = sorted(
        {str(e.payload.get("redemption_id")) for e in events if e.type.startswith("redemption.")}
    )
    known: dict[str, EntryPlan] = {}
    if redemption_refs:
        for plan in await posting.redemption_entries(conn, redemption_refs):
            known[plan.ref or ""] = plan

    results: list[EventResult | None] = [None] * len(events)
    fingerprints: list[bytes] = []
    first_index: dict[uuid.UUID, int] = {}
    pending: list[tuple[int, EntryPlan, EntryPlan | None]] = []  # (index, plan, voided original)
    new_events: list[int] = []

    for i, ev in enumerate(events):
        fp = _fingerprint(ev)
        fingerprints.append(fp)
        if ev.event_id in first_index:
            continue  # answered after the first occurrence is decided
        first_index[ev.event_id] = i
        old = seen.get(ev.event_id)
        if old is not None:
            if old.request_hash != fp:
                results[i] = _refused(ev.event_id, EventIdReused())
            elif old.status == "applied":
                results[i] = EventApplied(
                    event_id=ev.event_id, status="duplicate", entry_id=old.entry_id
                )
            else:
                results[i] = _stored_refusal(
                    ev.event_id, old.error_code or "", old.error_message or ""
                )
            continue
        new_events.append(i)
        try:
            plan, original = _plan_event(ev, created_by, known)
        except EventRejected as rejected:
            results[i] = _refused(ev.event_id, rejected)
            continue
        pending.append((i, plan, original))

    # (with the expense accounts the batch's expense recognition may post to)
    planned = [plan for _, plan, _ in pending]
    expense = plans.expense_accounts(plan for plan in planned if plan.kind == "redemption")
    accounts = await posting.resolve_accounts(
        conn, [*(p.account for plan in planned for p in plan.postings), *expense]
    )
    balances = {k: v.balance_fen for k, v in accounts.items()}
    accepted: list[EntryPlan] = []
    accepted_ids: set[uuid.UUID] = set()
    applied: dict[int, uuid.UUID] = {}  # event index -> its entry
    for i, plan, original in pending:
        ev = events[i]
        refusal: EventRejected | None = None
        if original is not None:
            if original.already_reversed:
                refusal = AlreadyVoided()
            elif not original.in_db and original.id not in accepted_ids:
                refusal = UnknownRedemption("The redemption to void was not applied.")
        deltas = plan.deltas()
        if refusal is None:
            # (only no-overdraft accounts can refuse; the first in key order names the refusal)
            guarded = [(k, d) for k, d in deltas.items() if k.spec.no_overdraft]
            if len(guarded) > 1:  # (a redemption guards one account: nothing to sort)
                guarded.sort(key=lambda kv: kv[0].sort_key())
            for key, delta in guarded:
                if plans.overdraws(balances[key], delta, key):
                    kind = (
                        BudgetExceeded
                        if key.code == chart.BUDGET_AVAILABLE
                        else InsufficientBalance
                    )
                    refusal = EventRejected(
                        f"Account {key.code} of region {key.region_code} would be overdrawn.",
                        code=kind.code,
                    )
                    break
        if refusal is not None:
            results[i] = _refused(ev.event_id, refusal)
            continue
        for key, delta in deltas.items():
            balances[key] += delta
        if original is not None and plan.reverses_entry_id is not None:
            original.already_reversed = True
        accepted.append(plan)
        accepted_ids.add(plan.id)
        applied[i] = plan.id
        results[i] = EventApplied(event_id=ev.event_id, status="applied", entry_id=plan.id)

    recognised = [p for p in accepted if p.kind == "redemption"]
    accepted += plans.expense_recognition(recognised, created_by=created_by)
    await posting.write_entries(conn, heads, accepted, accounts)
    records = []
    for i in new_events:
        ev, r = events[i], results[i]
        assert r is not None
        records.append(
            EventRecord(
                event_id=ev.event_id,
                type=ev.type,
                status=r.status,
                request_hash=fingerprints[i],
                entry_id=applied.get(i),
                error_code=r.error.code if isinstance(r, EventRefused) else None,
                error_message=r.error.message if isinstance(r, EventRefused) else None,
                occurred_at=ev.occurred_at,
            )
        )
    await posting.insert_events(conn, records)

    out: list[EventResult] = []
    for i, ev in enumerate(events):
        r = results[i]
        if r is None:  # a repeat of an event id earlier in this batch
            first = results[first_index[ev.event_id]]
            assert first is not None
            if fingerprints[i] != fingerprints[first_index[ev.event_id]]:
                r = _refused(ev.event_id, EventIdReused())
            elif isinstance(first, EventApplied):
                r = first.model_copy(update={"status": "duplicate"})
            else:
                r = first
        out.append(r)
    return out


def _fingerprint(ev: EventIn) -> bytes:
    """The event's request_hash: of its JSON form without its id (what
    `model_dump(mode="json", exclude={"event_id"})` writes), built directly when its payload
    is plain JSON, as the relay sends it (tests/ledger/test_request_hash.py: the same bytes).
    A string that cannot be written as UTF-8 (a lone surrogate, from a `\\ud800` escape)
    refuses the request."""
    try:
        if hashing.plain_json(ev.payload):
            body = {
                "type": ev.type,
                "occurred_at": to_jsonable_python(ev.occurred_at),
                "payload": ev.payload,
            }
            return hashing.request_hash_plain("event", body)
        return hashing.request_hash("event", ev.model_dump(mode="json", exclude={"event_id"}))
    except (TypeError, UnicodeEncodeError):
        raise InvalidInput(
            f"Event {ev.event_id}: a string that is not valid Unicode text."
        ) from None


class _EventKeys(TypedDict):
    """What every entry an event posts carries: who, which event, and its key."""

    created_by: str
    event_id: uuid.UUID
    idempotency_key: str


def _plan_event(
    ev: EventIn, created_by: str, known: dict[str, EntryPlan]
) -> tuple[EntryPlan, EntryPlan | None]:
    """The entry an event posts (and, for a void or a recovery, the redemption entry it
    reverses or takes back: refused when that was voided, or never applied)."""
    model = EVENT_PAYLOADS.get(ev.type)
    if model is None:
        raise UnknownEventType(f"Unknown event type {ev.type!r}.")
    try:
        p = model.model_validate(ev.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first.get("loc", ())) or "payload"
        raise InvalidPayload(f"payload.{field}: {first.get('msg')}") from None
    common: _EventKeys = {
        "created_by": created_by,
        "event_id": ev.event_id,
        "idempotency_key": f"event:{ev.event_id}",
    }
    if isinstance(p, RedemptionCreated):
        if p.gross_fen != p.subsidy_fen + p.copay_fen:
            raise AmountMismatch("gross_fen must equal subsidy_fen + copay_fen.")
        if p.redemption_id in known:
            raise DuplicateRedemption()
        plan = plans.redemption(
            program_code=p.program_code,
            budget_region_code=p.budget_region_code,
            provider_id=p.provider_id,
            subsidy_fen=p.subsidy_fen,
            shares_bp=p.funding_shares,
            beneficiary_id=p.beneficiary_id,
            voucher_id=p.voucher_id,
            ref=p.redemption_id,
            details=plans.redemption_details(
                terminal_id=p.terminal_id,
                staff_id=p.staff_id,
                service_code=p.service_code,
                gross_fen=p.gross_fen,
                copay_fen=p.copay_fen,
            ),
            **common,
        )
        known[p.redemption_id] = plan
        return plan, None
    if isinstance(p, RedemptionVoided):
        original = known.get(p.redemption_id)
        if original is None:
            raise UnknownRedemption()
        posted = sum(
            x.amount_fen for x in original.postings if x.account.code == chart.VOUCHERS_OUTSTANDING
        )
        if posted != p.subsidy_fen:
            raise AmountMismatch("subsidy_fen differs from the posted redemption.")
        plan = plans.void(
            original,
            created_by=created_by,
            idempotency_key=f"event:{ev.event_id}",
            memo=p.reason,
            event_id=ev.event_id,
            details=None if p.voided_by is None else {"voided_by": p.voided_by},
        )
        return plan, original
    if isinstance(p, RedemptionRecovered):
        original = known.get(p.redemption_id)
        if original is None:
            raise UnknownRedemption("The redemption to recover was not applied.")
        if original.provider_id != p.provider_id:
            raise AmountMismatch("provider_id differs from the posted redemption.")
        posted = sum(
            x.amount_fen for x in original.postings if x.account.code == chart.VOUCHERS_OUTSTANDING
        )
        if posted != p.subsidy_fen:
            raise AmountMismatch("subsidy_fen differs from the posted redemption.")
        memo = f"recovery:{p.recovery_id}"
        if p.alert_id:
            memo += f" alert:{p.alert_id}"
        if p.reason:
            memo += f" {p.reason}"
        plan = plans.recovery(
            original,
            mode=p.mode,
            destination=p.destination,
            created_by=created_by,
            idempotency_key=f"event:{ev.event_id}",
            event_id=ev.event_id,
            memo=memo[:500],
        )
        return plan, original
    if isinstance(p, VoucherExpired):
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
    if isinstance(p, CopayMoved):
        if not plans.copay_is_posted(p.method):
            raise CashCopayNotPosted()
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
    assert isinstance(p, CashBenefitIssued)
    plan = plans.cash_benefit(
        program_code=p.program_code,
        budget_region_code=p.budget_region_code,
        beneficiary_id=p.beneficiary_id,
        amount_fen=p.amount_fen,
        shares_bp=p.funding_shares,
        ref=p.benefit_id,
        # the month the benefit is for: it is paid in that month's batch, whenever it was
        # issued (a month ahead, at the start of the month, or late)
        details={plans.BENEFIT_MONTH: p.period},
        **common,
    )
    return plan, None
