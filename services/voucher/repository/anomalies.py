"""SQL of the anomaly rules, the detector and the alerts (SQLAlchemy on `AnomalyRule`,
`AnomalyRuleVersion`, `AnomalyCursor`, `Alert`, `AlertEvidence`, and reads of `Outbox`,
`Redemption`, `Voucher`, `Beneficiary`). Every function runs on the caller's session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import (
    Alert,
    AlertEvidence,
    AnomalyCursor,
    AnomalyRule,
    AnomalyRuleVersion,
    AnomalyTerminalUse,
    Beneficiary,
    Outbox,
    Redemption,
    Visit,
    Voucher,
)
from services.voucher.service.anomaly_rules import Fact, Setting, VisitSpan

WATCHED_EVENTS = ("redemption.created", "redemption.voided")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    type: str
    redemption_id: uuid.UUID
    occurred_at: datetime


# --- the detector's cursor and the event stream ---------------------------------------------


async def lock_cursor(session: AsyncSession, name: str) -> int:
    """The detector's position, its row locked for this transaction (one detector at a time)."""
    await session.execute(
        pg_insert(AnomalyCursor)
        .values(name=name, last_outbox_id=0)
        .on_conflict_do_nothing(index_elements=[col(AnomalyCursor.name)])
    )
    value = await session.scalar(
        select(col(AnomalyCursor.last_outbox_id))
        .where(col(AnomalyCursor.name) == name)
        .with_for_update()
    )
    return int(value or 0)


async def set_cursor(session: AsyncSession, name: str, last_outbox_id: int) -> None:
    await session.execute(
        update(AnomalyCursor)
        .where(col(AnomalyCursor.name) == name)
        .values(last_outbox_id=last_outbox_id, updated_at=func.now())
    )


async def events_after(session: AsyncSession, after_id: int, limit: int) -> list[StreamEvent]:
    """Redemption events of the outbox after `after_id`, in id order (delivered or not: the
    detector reads the stream, it does not consume it)."""
    rows = await session.execute(
        select(
            col(Outbox.id),
            col(Outbox.type),
            col(Outbox.payload)["redemption_id"].astext,
            col(Outbox.occurred_at),
        )
        .where(col(Outbox.id) > after_id, col(Outbox.type).in_(WATCHED_EVENTS))
        .order_by(col(Outbox.id))
        .limit(limit)
    )
    return [StreamEvent(int(i), t, uuid.UUID(r), at) for i, t, r, at in rows]


# --- redemptions as the rules see them ------------------------------------------------------


def _facts() -> Any:
    r, v = Redemption, Voucher
    return select(
        col(r.id),
        col(r.created_at),
        col(r.day_on),
        col(r.beneficiary_id),
        col(r.provider_id),
        col(r.terminal_id),
        col(r.subsidy_fen),
        col(r.status),
        col(r.voucher_id),
        col(v.period),
        col(v.face_fen),
    ).join(v, col(v.id) == col(r.voucher_id))


async def _run(session: AsyncSession, stmt: Any) -> list[Fact]:
    return [Fact(*row) for row in await session.execute(stmt.order_by(col(Redemption.created_at)))]


async def facts_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Fact]:
    return await _run(session, _facts().where(col(Redemption.id).in_(list(ids))))


# --- home visits (worker_overlap) -------------------------------------------------------------


def _spans() -> Any:
    return (
        select(
            col(Visit.id),
            col(Redemption.id),
            col(Visit.provider_id),
            col(Visit.care_worker),
            col(Visit.checked_in_at),
            col(Visit.checked_out_at),
        )
        .join(Redemption, col(Redemption.visit_id) == col(Visit.id))
        .where(
            col(Visit.status) == "completed",
            col(Visit.care_worker).is_not(None),
            col(Redemption.status) == "completed",
        )
    )


async def visit_span_of(session: AsyncSession, redemption_id: uuid.UUID) -> VisitSpan | None:
    """The completed visit a live redemption billed, with its care worker; None for a bill
    without a visit or a visit without a named worker."""
    row = (await session.execute(_spans().where(col(Redemption.id) == redemption_id))).first()
    return VisitSpan(*row) if row is not None else None


async def worker_visits_between(
    session: AsyncSession, provider_id: str, care_worker: str, start: datetime, end: datetime
) -> list[VisitSpan]:
    """The worker's billed visits at the provider that overlap [start, end) at all."""
    rows = await session.execute(
        _spans().where(
            col(Visit.provider_id) == provider_id,
            col(Visit.care_worker) == care_worker,
            col(Visit.checked_in_at) < end,
            col(Visit.checked_out_at) > start,
        )
    )
    return [VisitSpan(*row) for row in rows]


async def note_terminal_use(session: AsyncSession, facts: Sequence[Fact]) -> None:
    """Record the facts' terminal and time (voided or not) in the detector's own index,
    before the rules read it; reading an event again changes nothing."""
    rows = [
        {
            "redemption_id": f.id,
            "terminal_id": f.terminal_id,
            "created_at": f.at,
            "voided": f.status == "voided",
        }
        for f in facts
        if f.terminal_id
    ]
    if not rows:
        return
    stmt = pg_insert(AnomalyTerminalUse).values(rows)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[col(AnomalyTerminalUse.redemption_id)],
            set_={"voided": stmt.excluded.voided},
        )
    )


def _by_terminal(terminal_id: str, start: datetime, end: datetime | None = None) -> Any:
    """Redemption ids of the terminal in the time range, from the detector's own index."""
    u = AnomalyTerminalUse
    stmt = select(col(u.redemption_id)).where(
        col(u.terminal_id) == terminal_id, col(u.created_at) >= start
    )
    if end is not None:
        stmt = stmt.where(col(u.created_at) <= end)
    return stmt


async def terminal_window(
    session: AsyncSession, terminal_id: str, start: datetime, end: datetime
) -> list[Fact]:
    return await _run(
        session, _facts().where(col(Redemption.id).in_(_by_terminal(terminal_id, start, end)))
    )


async def beneficiary_window(
    session: AsyncSession, beneficiary_id: uuid.UUID, start: datetime, end: datetime
) -> list[Fact]:
    return await _run(
        session,
        _facts().where(
            col(Redemption.beneficiary_id) == beneficiary_id,
            col(Redemption.created_at).between(start, end),
        ),
    )


async def beneficiary_days(
    session: AsyncSession, beneficiary_id: uuid.UUID, first: date, last: date
) -> list[Fact]:
    return await _run(
        session,
        _facts().where(
            col(Redemption.beneficiary_id) == beneficiary_id,
            col(Redemption.day_on).between(first, last),
        ),
    )


@dataclass(frozen=True, slots=True)
class PeriodVoucher:
    id: uuid.UUID
    period: str
    face_fen: int


async def vouchers_of(
    session: AsyncSession, beneficiary_id: uuid.UUID, program_code: str, periods: list[str]
) -> list[PeriodVoucher]:
    rows = await session.execute(
        select(col(Voucher.id), col(Voucher.period), col(Voucher.face_fen)).where(
            col(Voucher.beneficiary_id) == beneficiary_id,
            col(Voucher.program_code) == program_code,
            col(Voucher.period).in_(periods),
        )
    )
    return [PeriodVoucher(*r) for r in rows]


async def voucher_program(session: AsyncSession, voucher_id: uuid.UUID) -> tuple[str, str] | None:
    """(program, the person's region) of a voucher."""
    row = (
        await session.execute(
            select(col(Voucher.program_code), col(Voucher.region_code)).where(
                col(Voucher.id) == voucher_id
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def facts_of_voucher(
    session: AsyncSession, beneficiary_id: uuid.UUID, voucher_id: uuid.UUID
) -> list[Fact]:
    """A voucher's redemptions, found among its person's (ix_redemption_beneficiary_created):
    a redemption's person is its voucher's, and redemption.voucher_id has no index of its own
    (one fewer written per redemption; migration voucher_2301)."""
    r = Redemption
    return await _run(
        session,
        _facts().where(col(r.beneficiary_id) == beneficiary_id, col(r.voucher_id) == voucher_id),
    )


async def terminal_counts(
    session: AsyncSession, terminal_id: str, since: datetime
) -> tuple[int, list[Fact]]:
    """How many redemptions the terminal made since `since` (voided included), and the
    voided ones."""
    u = AnomalyTerminalUse
    total = await session.scalar(
        select(func.count()).where(col(u.terminal_id) == terminal_id, col(u.created_at) >= since)
    )
    voided = await _run(
        session,
        _facts().where(
            col(Redemption.id).in_(_by_terminal(terminal_id, since).where(col(u.voided))),
            col(Redemption.status) == "voided",
        ),
    )
    return int(total or 0), voided


async def regions_of(
    session: AsyncSession, beneficiary_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(col(Beneficiary.id), col(Beneficiary.region_code)).where(
            col(Beneficiary.id).in_(list(beneficiary_ids))
        )
    )
    return {row[0]: row[1] for row in rows}


# --- rule settings ----------------------------------------------------------------------------


async def settings(session: AsyncSession) -> list[Setting]:
    rows = await session.scalars(select(AnomalyRule).execution_options(populate_existing=True))
    return [
        Setting(r.rule_code, r.region_code, r.version, r.enabled, dict(r.thresholds)) for r in rows
    ]


async def lock_rule(session: AsyncSession, region_code: str, rule_code: str) -> AnomalyRule | None:
    rule: AnomalyRule | None = await session.scalar(
        select(AnomalyRule)
        .where(col(AnomalyRule.region_code) == region_code, col(AnomalyRule.rule_code) == rule_code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return rule


async def write_rule(
    session: AsyncSession,
    *,
    region_code: str,
    rule_code: str,
    version: int,
    enabled: bool,
    thresholds: dict[str, int],
    old: Setting,
    who: str,
    reason: str,
) -> None:
    """Version `version` of the rule in the region: the current row and its history line.
    Two officers racing for the same version: the history's primary key refuses one."""
    values = {
        "region_code": region_code,
        "rule_code": rule_code,
        "version": version,
        "enabled": enabled,
        "thresholds": thresholds,
        "updated_by": who,
    }
    await session.execute(
        pg_insert(AnomalyRule)
        .values(values)
        .on_conflict_do_update(
            index_elements=[col(AnomalyRule.region_code), col(AnomalyRule.rule_code)],
            set_={
                "version": version,
                "enabled": enabled,
                "thresholds": thresholds,
                "updated_by": who,
                "updated_at": func.now(),
            },
        )
    )
    await session.execute(
        insert(AnomalyRuleVersion).values(
            region_code=region_code,
            rule_code=rule_code,
            version=version,
            enabled=enabled,
            thresholds=thresholds,
            old_enabled=old.enabled,
            old_thresholds=dict(old.thresholds),
            changed_by=who,
            reason=reason,
        )
    )


async def rule_history(
    session: AsyncSession, region_code: str, rule_code: str | None
) -> list[AnomalyRuleVersion]:
    stmt = select(AnomalyRuleVersion).where(col(AnomalyRuleVersion.region_code) == region_code)
    if rule_code is not None:
        stmt = stmt.where(col(AnomalyRuleVersion.rule_code) == rule_code)
    stmt = stmt.order_by(col(AnomalyRuleVersion.rule_code), col(AnomalyRuleVersion.version))
    return list(await session.scalars(stmt))


# --- alerts -------------------------------------------------------------------------------------


async def evidence_links(
    session: AsyncSession, rule_code: str, redemption_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Which of these redemptions an alert of the rule already counts (redemption -> alert)."""
    rows = await session.execute(
        select(col(AlertEvidence.redemption_id), col(AlertEvidence.alert_id)).where(
            col(AlertEvidence.rule_code) == rule_code,
            col(AlertEvidence.redemption_id).in_(list(redemption_ids)),
        )
    )
    return {row[0]: row[1] for row in rows}


async def link_evidence(
    session: AsyncSession, rule_code: str, alert_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> int:
    """Count these redemptions for the alert; those already counted (a racing detector) are
    left; the number linked now."""
    if not ids:
        return 0
    result = await session.execute(
        pg_insert(AlertEvidence)
        .values([{"rule_code": rule_code, "redemption_id": i, "alert_id": alert_id} for i in ids])
        .on_conflict_do_nothing()
        .returning(col(AlertEvidence.redemption_id))
    )
    return len(result.all())


async def insert_alert(session: AsyncSession, **values: Any) -> None:
    await session.execute(insert(Alert).values(values))


async def get_alert(
    session: AsyncSession, alert_id: uuid.UUID, *, lock: bool = False
) -> Alert | None:
    stmt = select(Alert).where(col(Alert.id) == alert_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    alert: Alert | None = await session.scalar(stmt)
    return alert


async def open_alert_for(
    session: AsyncSession, rule_code: str, subject_id: str, alert_ids: Sequence[uuid.UUID]
) -> Alert | None:
    """An open alert of the rule about the subject among `alert_ids`, locked (to extend it
    with new evidence of the same episode)."""
    if not alert_ids:
        return None
    alert: Alert | None = await session.scalar(
        select(Alert)
        .where(
            col(Alert.id).in_(list(alert_ids)),
            col(Alert.rule_code) == rule_code,
            col(Alert.subject_id) == subject_id,
            col(Alert.status) == "open",
        )
        .order_by(col(Alert.created_at))
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return alert


async def update_alert(session: AsyncSession, alert_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(Alert)
        .where(col(Alert.id) == alert_id)
        .values(updated_at=func.now(), **values)
        .execution_options(synchronize_session=False)
    )


async def list_alerts(
    session: AsyncSession, *, region_prefix: str, status: str | None, limit: int
) -> list[Alert]:
    stmt = select(Alert).where(col(Alert.region_code).startswith(region_prefix))
    if status is not None:
        stmt = stmt.where(col(Alert.status) == status)
    stmt = stmt.order_by(col(Alert.created_at).desc(), col(Alert.id)).limit(limit)
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))
