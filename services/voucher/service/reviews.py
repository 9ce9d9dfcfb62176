"""Receipts, and what the person and the officer do with them: confirm, dispute, decide,
appeal (the rules are in service/review_rules.py; the SQL in repository/reviews.py).

Who sees a receipt: the person, their proxy (a live authorisation), the provider's own
people and terminals, and the officers whose region covers the person; to everyone else the
redemption answers like an unknown id (404 REDEMPTION_NOT_FOUND). Only the person or their
proxy confirms, disputes or appeals (the route refuses every other role); only an officer of
the person's region decides. Each step is a row of `redemption_history` with who and when,
written in the same transaction; "once" is decided under the redemption's (or dispute's) row
lock, with a unique index behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import AppError
from services.common.ids import new_uuid
from services.common.regions import significant_prefix
from services.voucher.errors import (
    AlreadyReviewed,
    AppealAlreadyMade,
    AppealWindowClosed,
    DisputeAlreadyDecided,
    DisputeNotDecided,
    DisputeNotFound,
    RedemptionNotFound,
    RedemptionVoided,
    ReviewWindowClosed,
)
from services.voucher.models import Dispute, Recovery, Redemption
from services.voucher.repository import beneficiaries as beneficiaries_repo
from services.voucher.repository import recovery as recovery_repo
from services.voucher.repository import reviews as repo
from services.voucher.schemas.reviews import (
    DisputeDetail,
    DisputeRead,
    HistoryEntry,
    ReceiptLine,
    ReceiptParty,
    ReceiptRead,
    RecoveryBrief,
    ReviewState,
    VisitBrief,
)
from services.voucher.service import beneficiaries
from services.voucher.service import review_rules as rules
from services.voucher.service.directory import ProviderDirectory
from services.voucher.service.recovery import start_recovery

PERSON_ROLES = (Role.beneficiary, Role.proxy)
PROVIDER_ROLES = (Role.terminal, Role.provider_admin, Role.provider_staff)


@dataclass(frozen=True)
class Policy:
    """The configurable periods (VoucherSettings: review_window_days, ...)."""

    review_window_days: int = 7
    dispute_answer_days: int = 15
    dispute_at_risk_days: int = 3
    appeal_window_days: int = 15


def _redemption_not_found() -> AppError:
    return RedemptionNotFound(field="redemption_id")


def _dispute_not_found() -> AppError:
    return DisputeNotFound(field="dispute_id")


async def _ensure_person(
    session: AsyncSession,
    principal: Principal,
    beneficiary_id: uuid.UUID,
    hidden: Callable[[], AppError],
) -> None:
    """The person themself, or a proxy with a live authorisation (revoked: 403, told so)."""
    if not principal.may_act_for(str(beneficiary_id)):
        raise hidden()
    if (
        principal.role == Role.proxy
        and await beneficiaries_repo.active_proxy_for(session, beneficiary_id, principal.sub)
        is None
    ):
        raise beneficiaries.authorisation_revoked()


async def _officer_covers(
    session: AsyncSession, principal: Principal, beneficiary_id: uuid.UUID
) -> bool:
    person = await beneficiaries_repo.brief(session, beneficiary_id)
    return person is not None and principal.covers_region(person.region_code)


async def readable(
    session: AsyncSession, principal: Principal, redemption_id: uuid.UUID, *, lock: bool = False
) -> Redemption:
    """The redemption if the caller may see it, else REDEMPTION_NOT_FOUND (as an unknown id)."""
    r = await repo.redemption(session, redemption_id, lock=lock)
    if r is None:
        raise _redemption_not_found()
    if principal.role in PERSON_ROLES:
        await _ensure_person(session, principal, r.beneficiary_id, _redemption_not_found)
    elif principal.role in PROVIDER_ROLES:
        if not principal.provider_id or principal.provider_id != r.provider_id:
            raise _redemption_not_found()
    elif principal.role == Role.civil_affairs:
        if not await _officer_covers(session, principal, r.beneficiary_id):
            raise _redemption_not_found()
    else:
        raise _redemption_not_found()
    return r


def _provider_name(directory: ProviderDirectory, provider_id: str) -> str:
    entry = directory.provider(provider_id)
    return entry.name if entry is not None and entry.name else ""


def recovery_brief(r: Recovery | None) -> RecoveryBrief | None:
    if r is None:
        return None
    return RecoveryBrief(
        subsidy_fen=r.subsidy_fen,
        destination=r.destination,
        mode=r.mode,
        at=rules.local(r.created_at),
    )


def dispute_read(
    d: Dispute,
    directory: ProviderDirectory,
    policy: Policy,
    now: datetime,
    recovery: RecoveryBrief | None = None,
) -> DisputeRead:
    stage_due = d.appeal_due_at if d.status == "appealed" else d.due_at
    answered = d.status in ("decided", "closed")
    appeal_closes = (
        rules.appeal_closes_at(d.decided_at, policy.appeal_window_days)
        if d.decided_at is not None and d.status == "decided"
        else None
    )

    def lt(moment: datetime | None) -> datetime | None:
        return None if moment is None else rules.local(moment)

    return DisputeRead(
        id=str(d.id),
        redemption_id=str(d.redemption_id),
        beneficiary_id=str(d.beneficiary_id),
        provider_id=d.provider_id,
        provider_name=_provider_name(directory, d.provider_id),
        region_code=d.region_code,
        status=d.status,
        reason=d.reason,
        opened_at=rules.local(d.opened_at),
        due_at=rules.local(d.due_at),
        deadline=rules.deadline_state(
            stage_due, now, policy.dispute_at_risk_days, answered=answered
        ),
        decision=d.decision,
        decision_reason=d.decision_reason,
        decided_at=lt(d.decided_at),
        appeal_reason=d.appeal_reason,
        appealed_at=lt(d.appealed_at),
        appeal_due_at=lt(d.appeal_due_at),
        appeal_decision=d.appeal_decision,
        appeal_decision_reason=d.appeal_decision_reason,
        appeal_decided_at=lt(d.appeal_decided_at),
        can_appeal=appeal_closes is not None and now < appeal_closes,
        appeal_closes_at=lt(appeal_closes),
        recovery=recovery,
    )


async def build_receipt(
    session: AsyncSession,
    directory: ProviderDirectory,
    r: Redemption,
    policy: Policy,
    now: datetime,
    *,
    officer: bool = False,
) -> ReceiptRead:
    provider = directory.provider(r.provider_id)
    services = provider.services if provider is not None else {}
    lines = []
    for item in await repo.items(session, r.id):
        known = services.get(item.service_code)
        lines.append(
            ReceiptLine(
                service_code=item.service_code,
                name=known.name if known is not None and known.name else item.service_code,
                unit=known.unit if known is not None else "",
                category=item.category,
                quantity=item.quantity,
                unit_price_fen=item.unit_price_fen,
                amount_fen=item.amount_fen,
            )
        )
    if not lines:  # a bill of one line at quantity one is its redemption (models.RedemptionItem)
        known = services.get(r.service_code)
        lines.append(
            ReceiptLine(
                service_code=r.service_code,
                name=known.name if known is not None and known.name else r.service_code,
                unit=known.unit if known is not None else "",
                category=r.category,
                quantity=1,
                unit_price_fen=r.gross_fen,
                amount_fen=r.gross_fen,
            )
        )
    terminal = None
    if r.terminal_id:
        entry = directory.terminals_by_id.get(r.terminal_id)
        terminal = ReceiptParty(id=r.terminal_id, name=entry.name if entry is not None else "")
    visit = None
    if r.visit_id is not None:
        v = await repo.visit(session, r.visit_id)
        if v is not None:
            visit = VisitBrief(
                id=str(v.id),
                care_worker=v.care_worker,
                checked_in_at=rules.local(v.checked_in_at),
                checked_out_at=None if v.checked_out_at is None else rules.local(v.checked_out_at),
                minutes=rules.visit_minutes(v.duration_s),
                location_check=v.location_check,
            )
    history = await repo.history(session, r.id)
    review = ReviewState(
        state="open",
        window_closes_at=rules.local(
            rules.review_closes_at(r.created_at, policy.review_window_days)
        ),
    )
    for h in history:
        if h.kind in ("confirmed", "disputed"):
            review = ReviewState(
                state=h.kind,
                window_closes_at=review.window_closes_at,
                at=rules.local(h.at),
            )
    if review.state == "open" and (
        r.status != "completed"
        or not rules.review_open(r.created_at, now, policy.review_window_days)
    ):
        review = ReviewState(state="closed", window_closes_at=review.window_closes_at)
    found = await repo.dispute_of(session, r.id)
    recovered = recovery_brief(await recovery_repo.by_redemption(session, r.id))
    return ReceiptRead(
        id=str(r.id),
        status=r.status,
        created_at=rules.local(r.created_at),
        day_on=r.day_on,
        program_code=await repo.program_code(session, r.voucher_id),
        provider=ReceiptParty(id=r.provider_id, name=_provider_name(directory, r.provider_id)),
        terminal=terminal,
        items=lines,
        gross_fen=r.gross_fen,
        subsidy_fen=r.subsidy_fen,
        copay_fen=r.copay_fen,
        balance_after_fen=r.balance_after_fen,
        voided_at=None if r.voided_at is None else rules.local(r.voided_at),
        void_reason=r.void_reason,
        visit=visit,
        review=review,
        dispute=None if found is None else dispute_read(found, directory, policy, now, recovered),
        recovery=recovered,
        history=[
            HistoryEntry(
                kind=h.kind,
                at=rules.local(h.at),
                actor_role=h.actor_role,
                actor=h.actor if officer else None,
                reason=h.reason,
                decision=h.decision,
            )
            for h in history
        ],
    )


async def receipt(
    session: AsyncSession,
    directory: ProviderDirectory,
    principal: Principal,
    redemption_id: uuid.UUID,
    policy: Policy,
    now: datetime,
) -> ReceiptRead:
    r = await readable(session, principal, redemption_id)
    return await build_receipt(
        session, directory, r, policy, now, officer=principal.role == Role.civil_affairs
    )


async def _review(
    session: AsyncSession,
    principal: Principal,
    redemption_id: uuid.UUID,
    policy: Policy,
    now: datetime,
) -> Redemption:
    """The redemption, locked, if the person may still confirm or dispute it."""
    r = await readable(session, principal, redemption_id, lock=True)
    for h in await repo.history(session, r.id):
        if h.kind in ("confirmed", "disputed"):
            raise AlreadyReviewed(details={"state": h.kind})
    if r.status != "completed":
        raise RedemptionVoided("A voided redemption cannot be confirmed or disputed.")
    if not rules.review_open(r.created_at, now, policy.review_window_days):
        closes = rules.review_closes_at(r.created_at, policy.review_window_days)
        raise ReviewWindowClosed(details={"closed_at": rules.local(closes).isoformat()})
    return r


async def _record(session: AsyncSession, **values: object) -> None:
    try:
        await repo.add_history(session, **values)  # type: ignore[arg-type]
        await session.flush()
    except IntegrityError as exc:  # the unique index behind the row lock
        raise AlreadyReviewed() from exc


async def confirm(
    session: AsyncSession,
    directory: ProviderDirectory,
    principal: Principal,
    redemption_id: uuid.UUID,
    policy: Policy,
    now: datetime,
) -> ReceiptRead:
    """The person (or proxy) confirms the redemption happened as the receipt says."""
    r = await _review(session, principal, redemption_id, policy, now)
    await _record(
        session,
        redemption_id=r.id,
        kind="confirmed",
        actor=principal.sub,
        actor_role=principal.role.value,
        at=now,
    )
    return await build_receipt(session, directory, r, policy, now)


async def dispute(
    session: AsyncSession,
    directory: ProviderDirectory,
    principal: Principal,
    redemption_id: uuid.UUID,
    reason: str,
    policy: Policy,
    now: datetime,
) -> DisputeRead:
    """The person (or proxy) disputes the redemption: a case for the officers of the
    person's region, to answer by `dispute_answer_days`."""
    r = await _review(session, principal, redemption_id, policy, now)
    person = await beneficiaries_repo.brief(session, r.beneficiary_id)
    if person is None:
        raise _redemption_not_found()
    row = Dispute(
        id=new_uuid(),
        redemption_id=r.id,
        beneficiary_id=r.beneficiary_id,
        provider_id=r.provider_id,
        region_code=person.region_code,
        status="open",
        reason=reason,
        opened_by=principal.sub,
        opened_at=now,
        due_at=now + timedelta(days=policy.dispute_answer_days),
    )
    await _record(
        session,
        redemption_id=r.id,
        kind="disputed",
        actor=principal.sub,
        actor_role=principal.role.value,
        at=now,
        reason=reason,
        dispute_id=row.id,
    )
    await repo.insert_dispute(session, row)
    return dispute_read(row, directory, policy, now)


async def _dispute_in_scope(
    session: AsyncSession, principal: Principal, dispute_id: uuid.UUID, *, lock: bool = False
) -> Dispute:
    d = await repo.dispute(session, dispute_id, lock=lock)
    if d is None:
        raise _dispute_not_found()
    if principal.role in PERSON_ROLES:
        await _ensure_person(session, principal, d.beneficiary_id, _dispute_not_found)
    elif principal.role == Role.civil_affairs:
        if not principal.covers_region(d.region_code):
            raise _dispute_not_found()
    else:
        raise _dispute_not_found()
    return d


async def detail(
    session: AsyncSession,
    directory: ProviderDirectory,
    principal: Principal,
    dispute_id: uuid.UUID,
    policy: Policy,
    now: datetime,
) -> DisputeDetail:
    d = await _dispute_in_scope(session, principal, dispute_id)
    r = await repo.redemption(session, d.redemption_id)
    assert r is not None  # a dispute's redemption is never deleted (trigger, foreign key)
    receipt_ = await build_receipt(
        session, directory, r, policy, now, officer=principal.role == Role.civil_affairs
    )
    # (the receipt read the redemption's recovery already)
    return DisputeDetail(
        **dispute_read(d, directory, policy, now, receipt_.recovery).model_dump(),
        receipt=receipt_,
    )


async def listing(
    session: AsyncSession,
    directory: ProviderDirectory,
    region_code: str,
    statuses: list[str],
    policy: Policy,
    now: datetime,
    limit: int = 200,
) -> list[DisputeRead]:
    rows = await repo.disputes(session, significant_prefix(region_code), statuses, limit)
    return [dispute_read(d, directory, policy, now) for d in rows]


async def decide(
    session: AsyncSession,
    directory: ProviderDirectory,
    principal: Principal,
    dispute_id: uuid.UUID,
    decision: str,
    reason: str,
    policy: Policy,
    now: datetime,
) -> DisputeRead:
    """An officer of the person's region decides the dispute, or later its appeal; each
    once (DISPUTE_ALREADY_DECIDED). Upheld (at either stage), the redemption's subsidy is
    taken back in the same transaction (service/recovery.py `start_recovery`: off the
    provider's payable, or from its next claims if it was claimed; back on the person's
    voucher while it is open). Partly upheld moves no money: how much is for the officer
    to settle with the provider."""
    d = await _dispute_in_scope(session, principal, dispute_id, lock=True)
    if d.status == "open":
        await repo.update_dispute(
            session,
            d.id,
            status="decided",
            decision=decision,
            decision_reason=reason,
            decided_by=principal.sub,
            decided_at=now,
        )
        kind = "decided"
    elif d.status == "appealed":
        await repo.update_dispute(
            session,
            d.id,
            status="closed",
            appeal_decision=decision,
            appeal_decision_reason=reason,
            appeal_decided_by=principal.sub,
            appeal_decided_at=now,
        )
        kind = "appeal_decided"
    else:
        raise DisputeAlreadyDecided(details={"status": d.status})
    await repo.add_history(
        session,
        redemption_id=d.redemption_id,
        kind=kind,
        actor=principal.sub,
        actor_role=principal.role.value,
        at=now,
        reason=reason,
        decision=decision,
        dispute_id=d.id,
    )
    recovered = None
    if decision == "upheld":  # (a voided redemption paid nothing: none to take back)
        taken = await start_recovery(
            session, [d.redemption_id], f"申诉成立：{reason}", actor=principal.sub, now=now
        )
        recovered = recovery_brief(taken[0]) if taken else None
    fresh = await repo.dispute(session, d.id)
    assert fresh is not None
    return dispute_read(fresh, directory, policy, now, recovered)


async def appeal(
    session: AsyncSession,
    directory: ProviderDirectory,
    principal: Principal,
    dispute_id: uuid.UUID,
    reason: str,
    policy: Policy,
    now: datetime,
) -> DisputeRead:
    """The person (or proxy) appeals a decided dispute, once, within `appeal_window_days`;
    the officers answer it by a new deadline."""
    d = await _dispute_in_scope(session, principal, dispute_id, lock=True)
    if d.status == "open":
        raise DisputeNotDecided()
    if d.status in ("appealed", "closed"):
        raise AppealAlreadyMade()
    assert d.decided_at is not None  # ck_dispute_steps
    if now >= rules.appeal_closes_at(d.decided_at, policy.appeal_window_days):
        raise AppealWindowClosed()
    await repo.update_dispute(
        session,
        d.id,
        status="appealed",
        appeal_reason=reason,
        appealed_by=principal.sub,
        appealed_at=now,
        appeal_due_at=now + timedelta(days=policy.dispute_answer_days),
    )
    try:
        await repo.add_history(
            session,
            redemption_id=d.redemption_id,
            kind="appealed",
            actor=principal.sub,
            actor_role=principal.role.value,
            at=now,
            reason=reason,
            dispute_id=d.id,
        )
        await session.flush()
    except IntegrityError as exc:
        raise AppealAlreadyMade() from exc
    fresh = await repo.dispute(session, d.id)
    assert fresh is not None
    return dispute_read(fresh, directory, policy, now)


async def review_states(
    session: AsyncSession, rows: list[Redemption], window_days: int, now: datetime
) -> dict[uuid.UUID, str]:
    """Each redemption's review state for the person's history: confirmed, disputed, open
    (may still be confirmed or disputed) or closed (voided, or the window passed)."""
    done = await repo.reviews_of(session, [r.id for r in rows])
    states: dict[uuid.UUID, str] = {}
    for r in rows:
        if r.id in done:
            states[r.id] = done[r.id]
        elif r.status == "completed" and rules.review_open(r.created_at, now, window_days):
            states[r.id] = "open"
        else:
            states[r.id] = "closed"
    return states
