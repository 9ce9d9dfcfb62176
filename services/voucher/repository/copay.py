"""Co-payments and their refunds (SQLAlchemy on `Copayment`, `CopayRefund`,
`StripeWebhookEvent`, read with their `Redemption` and `Voucher`). The caller owns the
transaction; the lock order is in the docstring of service/copay.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import (
    Copayment,
    CopayRefund,
    Redemption,
    StripeWebhookEvent,
    Voucher,
)


@dataclass(frozen=True, slots=True)
class EventSource:
    """A redemption with what its co-payment's ledger events need from its voucher."""

    id: uuid.UUID
    provider_id: str
    status: str
    copay_fen: int
    voucher_id: uuid.UUID
    beneficiary_id: uuid.UUID
    program_code: str
    region_code: str
    budget_region_code: str
    period: str
    funding_shares: dict[str, int]


@dataclass(frozen=True, slots=True)
class CopaymentView:
    """A co-payment with whose it is and what it was for (for the family and the staff)."""

    copayment: Copayment
    beneficiary_id: uuid.UUID
    service_code: str
    gross_fen: int
    redemption_status: str


@dataclass(frozen=True, slots=True)
class Lease:
    """A pending refund taken for one attempt at Stripe, with what the attempt needs."""

    idempotency_key: str
    copayment_id: uuid.UUID
    amount_fen: int
    attempts: int
    stripe_payment_intent_id: str | None
    redemption_id: uuid.UUID


# --- the redemption a co-payment belongs to -----------------------------------------------


def _event_source() -> Any:
    r, v = Redemption, Voucher
    return select(
        col(r.id),
        col(r.provider_id),
        col(r.status),
        col(r.copay_fen),
        col(r.voucher_id),
        col(r.beneficiary_id),
        col(v.program_code),
        col(v.region_code),
        col(v.budget_region_code),
        col(v.period),
        col(v.funding_shares),
    ).join(v, col(v.id) == col(r.voucher_id))


async def lock_redemption(session: AsyncSession, redemption_id: uuid.UUID) -> EventSource | None:
    """The redemption with what its ledger events need from its voucher, locked."""
    query = _event_source().where(col(Redemption.id) == redemption_id)
    row = (await session.execute(query.with_for_update(of=Redemption))).first()
    return EventSource(*row) if row is not None else None


async def payload_source(session: AsyncSession, redemption_id: uuid.UUID) -> EventSource | None:
    """What a ledger event needs from the redemption and its voucher, without a lock (the
    refund worker must not lock a redemption: see the lock order in service/copay.py)."""
    query = _event_source().where(col(Redemption.id) == redemption_id)
    row = (await session.execute(query)).first()
    return EventSource(*row) if row is not None else None


# --- co-payments --------------------------------------------------------------------------


async def _copayment(
    session: AsyncSession, where: ColumnElement[bool], *, lock: bool
) -> Copayment | None:
    query = select(Copayment).where(where).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def by_redemption(
    session: AsyncSession, redemption_id: uuid.UUID, *, lock: bool = False
) -> Copayment | None:
    return await _copayment(session, col(Copayment.redemption_id) == redemption_id, lock=lock)


async def by_payment_intent(session: AsyncSession, pi: str) -> Copayment | None:
    """Unlocked: a caller learns the redemption from it, locks that, then `by_id(lock=True)`."""
    return await _copayment(session, col(Copayment.stripe_payment_intent_id) == pi, lock=False)


async def by_id(
    session: AsyncSession, copayment_id: uuid.UUID, *, lock: bool = True
) -> Copayment | None:
    return await _copayment(session, col(Copayment.id) == copayment_id, lock=lock)


def _views() -> Any:
    c, r = Copayment, Redemption
    return (
        select(c, col(r.beneficiary_id), col(r.service_code), col(r.gross_fen), col(r.status))
        .join(r, col(r.id) == col(c.redemption_id))
        .execution_options(populate_existing=True)
    )


async def with_redemption(session: AsyncSession, copayment_id: uuid.UUID) -> CopaymentView | None:
    """A co-payment with whose it is and what it was for (for the family and the staff)."""
    row = (await session.execute(_views().where(col(Copayment.id) == copayment_id))).first()
    return CopaymentView(*row) if row is not None else None


async def due_for_beneficiary(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[CopaymentView]:
    """Online co-payments of the person still waiting to be paid (redemption not voided),
    oldest first."""
    c, r = Copayment, Redemption
    rows = await session.execute(
        _views()
        .where(
            col(r.beneficiary_id) == beneficiary_id,
            col(c.method) == "stripe",
            col(c.status) == "open",
            col(r.status) != "voided",
        )
        .order_by(col(c.created_at), col(c.id))
    )
    return [CopaymentView(*row) for row in rows]


async def open_to_sync(
    session: AsyncSession, *, older_than_s: float, every_s: float, limit: int
) -> list[uuid.UUID]:
    """Open online co-payments of the last day not re-read from Stripe lately."""
    c = Copayment
    result = await session.scalars(
        select(col(c.id))
        .where(
            col(c.status) == "open",
            col(c.method) == "stripe",
            col(c.stripe_payment_intent_id).is_not(None),
            col(c.created_at) > func.now() - timedelta(days=1),
            col(c.created_at) < func.now() - timedelta(seconds=older_than_s),
            or_(
                col(c.synced_at).is_(None),
                col(c.synced_at) < func.now() - timedelta(seconds=every_s),
            ),
        )
        .order_by(col(c.created_at))
        .limit(limit)
    )
    return list(result)


async def _set(session: AsyncSession, copayment_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(Copayment)
        .where(col(Copayment.id) == copayment_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def mark_synced(session: AsyncSession, copayment_id: uuid.UUID) -> None:
    await _set(session, copayment_id, synced_at=func.now())


async def insert(
    session: AsyncSession,
    *,
    id: uuid.UUID,
    redemption_id: uuid.UUID,
    provider_id: str,
    method: str,
    amount_fen: int,
    captured_fen: int,
    status: str,
    stripe_idempotency_key: str,
    created_by: str,
) -> None:
    await session.execute(
        sql_insert(Copayment).values(
            id=id,
            redemption_id=redemption_id,
            provider_id=provider_id,
            method=method,
            amount_fen=amount_fen,
            captured_fen=captured_fen,
            status=status,
            stripe_idempotency_key=stripe_idempotency_key,
            created_by=created_by,
        )
    )


async def set_payment_intent(session: AsyncSession, copayment_id: uuid.UUID, pi: str) -> None:
    await _set(session, copayment_id, stripe_payment_intent_id=pi, updated_at=func.now())


async def set_captured(session: AsyncSession, copayment_id: uuid.UUID, fen: int) -> None:
    await _set(session, copayment_id, captured_fen=fen, status="succeeded", updated_at=func.now())


async def add_refund(
    session: AsyncSession, copayment_id: uuid.UUID, fen: int, *, from_pending: bool = False
) -> None:
    """A refund made: refunded_fen grows (out of refund_pending_fen when it was promised);
    all of what was captured refunded makes the co-payment `refunded`."""
    c = Copayment
    values: dict[str, Any] = {
        "refunded_fen": col(c.refunded_fen) + fen,
        "status": case(
            (col(c.refunded_fen) + fen == col(c.captured_fen), "refunded"), else_=col(c.status)
        ),
        "updated_at": func.now(),
    }
    if from_pending:
        values["refund_pending_fen"] = col(c.refund_pending_fen) - fen
    await _set(session, copayment_id, **values)


async def add_pending_refund(session: AsyncSession, copayment_id: uuid.UUID, fen: int) -> None:
    await _set(
        session,
        copayment_id,
        refund_pending_fen=col(Copayment.refund_pending_fen) + fen,
        updated_at=func.now(),
    )


async def first_webhook(session: AsyncSession, event_id: str, type_: str) -> bool:
    """Record a Stripe event id; False when it was seen before."""
    recorded = await session.scalar(
        pg_insert(StripeWebhookEvent)
        .values(id=event_id, type=type_)
        .on_conflict_do_nothing(index_elements=[col(StripeWebhookEvent.id)])
        .returning(col(StripeWebhookEvent.id))
    )
    return recorded is not None


# --- refunds ------------------------------------------------------------------------------


async def refund_by_key(
    session: AsyncSession, key: str, *, lock: bool = False
) -> CopayRefund | None:
    query = (
        select(CopayRefund)
        .where(col(CopayRefund.idempotency_key) == key)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def record_refund(
    session: AsyncSession,
    key: str,
    copayment_id: uuid.UUID,
    amount_fen: int,
    *,
    status: str,
    reason: str,
) -> None:
    await session.execute(
        sql_insert(CopayRefund).values(
            idempotency_key=key,
            copayment_id=copayment_id,
            amount_fen=amount_fen,
            status=status,
            reason=reason,
            completed_at=func.now() if status == "succeeded" else None,
        )
    )


async def lease_refund(session: AsyncSession, key: str, lease_s: float) -> Lease | None:
    """Take a pending refund for one attempt at Stripe (None: done, or another worker holds
    it). The lease outlives a crash: after `lease_s` another worker may try again."""
    f, c = CopayRefund, Copayment
    row = (
        await session.execute(
            update(f)
            .where(
                col(f.idempotency_key) == key,
                col(c.id) == col(f.copayment_id),
                col(f.status) == "pending",
                or_(col(f.leased_until).is_(None), col(f.leased_until) < func.now()),
            )
            .values(
                attempts=col(f.attempts) + 1,
                leased_until=func.now() + timedelta(seconds=lease_s),
            )
            .returning(
                col(f.idempotency_key),
                col(f.copayment_id),
                col(f.amount_fen),
                col(f.attempts),
                col(c.stripe_payment_intent_id),
                col(c.redemption_id),
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    return Lease(*row) if row is not None else None


async def refund_failed(session: AsyncSession, key: str, retry_in_s: float, error: str) -> None:
    await session.execute(
        update(CopayRefund)
        .where(col(CopayRefund.idempotency_key) == key, col(CopayRefund.status) == "pending")
        .values(
            leased_until=None,
            last_error=error[:200],
            next_attempt_at=func.now() + timedelta(seconds=retry_in_s),
        )
        .execution_options(synchronize_session=False)
    )


async def complete_refund(session: AsyncSession, key: str, stripe_refund_id: str) -> None:
    await session.execute(
        update(CopayRefund)
        .where(col(CopayRefund.idempotency_key) == key)
        .values(
            status="succeeded",
            stripe_refund_id=stripe_refund_id,
            completed_at=func.now(),
            leased_until=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )


async def pending_refund_keys(
    session: AsyncSession, *, limit: int, copayment_id: uuid.UUID | None = None
) -> list[str]:
    """Pending refunds due for an attempt (all of one co-payment's when it is given)."""
    f = CopayRefund
    query = select(col(f.idempotency_key)).where(col(f.status) == "pending")
    if copayment_id is not None:
        query = query.where(col(f.copayment_id) == copayment_id).order_by(col(f.created_at))
    else:
        query = (
            query.where(
                col(f.next_attempt_at) <= func.now(),
                or_(col(f.leased_until).is_(None), col(f.leased_until) < func.now()),
            )
            .order_by(col(f.next_attempt_at))
            .limit(limit)
        )
    return list(await session.scalars(query))
