"""The anomaly detector and the rules' settings (docs/anomalies.md).

The detector reads the redemption events of the outbox (`redemption.created`,
`redemption.voided`) after its cursor, off the hot path: a redemption does no extra work, the
detector runs in its own loop (`detect_forever`, every `anomaly_interval_s`) and its own
transactions. For each event it applies the rules in force for the region
(service/anomaly_rules.py) to the redemptions around it; a hit is an alert with its evidence.
A redemption counts at most once per rule (`alert_evidence`), so reading an event again (a
rerun, a reset cursor, an event read again until it settles) never raises twice; new
evidence of an episode that already has an open alert is added to that alert.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.ids import new_uuid
from services.voucher.repository import anomalies as repo
from services.voucher.service import anomaly_rules as rules
from services.voucher.service import lifecycle_facts
from services.voucher.service.anomaly_rules import Fact, Setting
from services.voucher.service.directory import ProviderEntry

log = logging.getLogger("yiyang.voucher.anomalies")

DETECTOR = "anomalies"


class Places(Protocol):
    """Where providers are (the provider directory as the voucher service holds it)."""

    def provider(self, provider_id: str | None) -> ProviderEntry | None: ...


@dataclass
class DetectorPass:
    events: int = 0
    raised: int = 0
    extended: int = 0
    cursor: int = 0  # where the cursor stands after the pass
    start: int = 0  # where it stood before
    by_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class _Context:
    session: AsyncSession
    places: Places
    configured: list[Setting]
    result: DetectorPass
    regions: dict[uuid.UUID, str] = field(default_factory=dict)

    def setting(self, rule_code: str, region: str) -> Setting:
        return rules.setting_for(rule_code, region, self.configured)

    def provider_region(self, provider_id: str) -> str | None:
        entry = self.places.provider(provider_id)
        return entry.region_code if entry is not None else None

    def place(self, provider_id: str) -> tuple[float, float] | None:
        entry = self.places.provider(provider_id)
        if entry is None or entry.lat is None or entry.lon is None:
            return None
        return (entry.lat, entry.lon)


async def detect_once(
    session: AsyncSession,
    places: Places,
    *,
    now: datetime | None = None,
    batch_size: int = 500,
    settle_s: float = 60.0,
) -> DetectorPass:
    """One pass of the detector in the caller's transaction (its cursor row is locked: one
    detector at a time). The cursor moves past the events older than `settle_s`; younger
    ones are read again next time (harmless: evidence counts once)."""
    now = now or datetime.now(UTC)
    cursor = await repo.lock_cursor(session, DETECTOR)
    events = await repo.events_after(session, cursor, batch_size)
    result = DetectorPass(cursor=cursor, start=cursor)
    if not events:
        return result
    ctx = _Context(session, places, await repo.settings(session), result)
    facts = {f.id: f for f in await repo.facts_by_ids(session, [e.redemption_id for e in events])}
    await repo.note_terminal_use(session, list(facts.values()))
    ctx.regions = await repo.regions_of(session, list({f.beneficiary_id for f in facts.values()}))
    for ev in events:
        fact = facts.get(ev.redemption_id)
        result.events += 1
        if fact is None:
            continue
        if ev.type == "redemption.created":
            await _on_created(ctx, fact)
        else:
            await _on_voided(ctx, fact, now)
    settled = now - timedelta(seconds=settle_s)
    for ev in events:
        if ev.occurred_at > settled:
            break
        result.cursor = ev.id
    if result.cursor != cursor:
        await repo.set_cursor(session, DETECTOR, result.cursor)
    return result


async def _on_created(ctx: _Context, f: Fact) -> None:
    person_region = ctx.regions.get(f.beneficiary_id)
    if person_region is None:
        return
    terminal_region = ctx.provider_region(f.provider_id) or person_region

    if f.terminal_id:
        s = ctx.setting(rules.TERMINAL_BURST, terminal_region)
        if s.enabled:
            minutes = s.thresholds["window_minutes"]
            window = await repo.terminal_window(
                ctx.session, f.terminal_id, f.at - timedelta(minutes=minutes), f.at
            )
            hit = rules.terminal_burst(window, max_elders=s.thresholds["max_elders"])
            if hit:
                elders = len({x.beneficiary_id for x in hit})
                await _raise(
                    ctx, s, "terminal", f.terminal_id, terminal_region, hit, {"elders": elders}
                )

    s = ctx.setting(rules.DISTANT_PROVIDERS, person_region)
    if s.enabled:
        minutes = s.thresholds["window_minutes"]
        nearby = await repo.beneficiary_window(
            ctx.session,
            f.beneficiary_id,
            f.at - timedelta(minutes=minutes),
            f.at + timedelta(minutes=minutes),
        )
        places = {x.provider_id: p for x in nearby if (p := ctx.place(x.provider_id))}
        pairs = rules.distant_pairs(
            f,
            nearby,
            places,
            distance_limit_km=s.thresholds["distance_km"],
            window_minutes=minutes,
        )
        if pairs:
            hit = sorted({x.id: x for a, b, _ in pairs for x in (a, b)}.values(), key=_at)
            measured = {
                "pairs": [
                    {"from": str(a.id), "to": str(b.id), "km": round(d, 1)} for a, b, d in pairs
                ],
                "max_km": round(max(d for _, _, d in pairs), 1),
            }
            await _raise(ctx, s, "beneficiary", str(f.beneficiary_id), person_region, hit, measured)

    s = ctx.setting(rules.MONTH_END_DRAIN, person_region)
    if s.enabled and rules.in_last_days(f.day_on, f.period, s.thresholds["last_days"]):
        await _month_end_drain(ctx, s, f, person_region)

    await _life_events(ctx, f, person_region)
    await _worker_overlap(ctx, f, terminal_region)


async def _worker_overlap(ctx: _Context, f: Fact, region: str) -> None:
    """A home visit billed by this redemption overlapping another billed visit of the same
    care worker: one person cannot be in two homes at once. Each visit's bill raises the
    check, so whichever of the two is billed second finds the first."""
    s = ctx.setting(rules.WORKER_OVERLAP, region)
    if not s.enabled:
        return
    visit = await repo.visit_span_of(ctx.session, f.id)
    if visit is None:
        return
    others = await repo.worker_visits_between(
        ctx.session, visit.provider_id, visit.care_worker, visit.start, visit.end
    )
    overlapping = rules.overlapping_visits(
        visit, others, min_overlap_minutes=s.thresholds["min_overlap_minutes"]
    )
    if not overlapping:
        return
    spans = [visit, *overlapping]
    hit = sorted(await repo.facts_by_ids(ctx.session, [v.redemption_id for v in spans]), key=_at)
    measured = {
        "care_worker": visit.care_worker,
        "visits": [
            {
                "visit_id": str(v.visit_id),
                "redemption_id": str(v.redemption_id),
                "checked_in_at": v.start.isoformat(),
                "checked_out_at": v.end.isoformat(),
            }
            for v in sorted(spans, key=lambda v: v.start)
        ],
    }
    subject = f"{visit.provider_id}:{visit.care_worker}"
    await _raise(ctx, s, "worker", subject, region, hit, measured)


async def _month_end_drain(ctx: _Context, s: Setting, f: Fact, region: str) -> None:
    program = await repo.voucher_program(ctx.session, f.voucher_id)
    if program is None:
        return
    months = s.thresholds["months"]
    periods = rules.previous_periods(f.period, months)
    vouchers = await repo.vouchers_of(ctx.session, f.beneficiary_id, program[0], periods)
    if len(vouchers) < months:
        return
    evidence: list[Fact] = []
    for v in sorted(vouchers, key=lambda v: v.period):
        drained = rules.drained_at_month_end(
            await repo.facts_of_voucher(ctx.session, f.beneficiary_id, v.id),
            v.face_fen,
            v.period,
            last_days=s.thresholds["last_days"],
            share_bp=s.thresholds["share_bp"],
        )
        if drained is None:
            return
        evidence += drained
    await _raise(
        ctx, s, "beneficiary", str(f.beneficiary_id), region, evidence, {"periods": periods}
    )


async def _life_events(ctx: _Context, f: Fact, region: str) -> None:
    """Redemptions dated after a recorded death or inside a recorded hospital stay (dates from
    service/lifecycle_facts.py)."""
    s = ctx.setting(rules.AFTER_DEATH, region)
    if s.enabled:
        died = (await lifecycle_facts.death_dates(ctx.session, [f.beneficiary_id])).get(
            f.beneficiary_id
        )
        if died is not None and rules.after_date([f], died):
            await _raise(
                ctx, s, "beneficiary", str(f.beneficiary_id), region, [f], {"died_on": str(died)}
            )
    s = ctx.setting(rules.DURING_HOSPITAL, region)
    if s.enabled:
        stays = (await lifecycle_facts.hospital_stays(ctx.session, [f.beneficiary_id])).get(
            f.beneficiary_id, []
        )
        if rules.within_stays([f], stays):
            await _raise(ctx, s, "beneficiary", str(f.beneficiary_id), region, [f], {})


async def _on_voided(ctx: _Context, f: Fact, now: datetime) -> None:
    if not f.terminal_id:
        return
    region = ctx.provider_region(f.provider_id) or ctx.regions.get(f.beneficiary_id)
    if region is None:
        return
    s = ctx.setting(rules.VOID_SHARE, region)
    if not s.enabled:
        return
    since = now - timedelta(days=s.thresholds["window_days"])
    total, voided = await repo.terminal_counts(ctx.session, f.terminal_id, since)
    if rules.void_share_exceeded(
        total,
        len(voided),
        share_bp=s.thresholds["share_bp"],
        min_redemptions=s.thresholds["min_redemptions"],
    ):
        await _raise(
            ctx,
            s,
            "terminal",
            f.terminal_id,
            region,
            voided,
            {"redemptions": total, "voids": len(voided)},
        )


def _at(f: Fact) -> datetime:
    return f.at


def _evidence_line(ctx: _Context, f: Fact) -> dict[str, Any]:
    entry = ctx.places.provider(f.provider_id)
    return {
        "redemption_id": str(f.id),
        "at": f.at.isoformat(),
        "day_on": f.day_on.isoformat(),
        "beneficiary_id": str(f.beneficiary_id),
        "provider_id": f.provider_id,
        "provider_name": entry.name if entry is not None else "",
        "terminal_id": f.terminal_id,
        "subsidy_fen": f.subsidy_fen,
        "status": f.status,
        "lat": entry.lat if entry is not None else None,
        "lon": entry.lon if entry is not None else None,
    }


async def _raise(
    ctx: _Context,
    setting: Setting,
    subject_kind: str,
    subject_id: str,
    region: str,
    hit: Sequence[Fact],
    measured: Mapping[str, Any],
) -> None:
    """An alert for the hit, unless every redemption of it is already counted by the rule;
    new evidence of an open alert's subject joins that alert."""
    rule = setting.rule_code
    ids = [f.id for f in hit]
    links = await repo.evidence_links(ctx.session, rule, ids)
    new = [f for f in hit if f.id not in links]
    if not new:
        return
    facts: dict[str, Any] = {
        "thresholds": dict(setting.thresholds),
        "rule_version": setting.version,
        "rule_region_code": setting.region_code,
        **measured,
    }
    existing = await repo.open_alert_for(ctx.session, rule, subject_id, list(set(links.values())))
    if existing is not None:
        lines = {e["redemption_id"]: e for e in existing.evidence}
        for f in new:
            lines[str(f.id)] = _evidence_line(ctx, f)
        await repo.link_evidence(ctx.session, rule, existing.id, [f.id for f in new])
        await repo.update_alert(
            ctx.session,
            existing.id,
            evidence=sorted(lines.values(), key=lambda e: str(e["at"])),
            provider_ids=sorted(set(existing.provider_ids) | {f.provider_id for f in new}),
            facts=facts,
        )
        ctx.result.extended += 1
        return
    alert_id = new_uuid()
    await repo.insert_alert(
        ctx.session,
        id=alert_id,
        rule_code=rule,
        region_code=region,
        subject_kind=subject_kind,
        subject_id=subject_id,
        provider_ids=sorted({f.provider_id for f in hit}),
        facts=facts,
        evidence=[_evidence_line(ctx, f) for f in sorted(hit, key=_at)],
    )
    await repo.link_evidence(ctx.session, rule, alert_id, [f.id for f in new])
    ctx.result.raised += 1
    ctx.result.by_rule[rule] = ctx.result.by_rule.get(rule, 0) + 1


async def detect_forever(
    db: Database,
    places: Places,
    *,
    interval_s: float,
    settle_s: float,
    batch_size: int,
) -> None:
    """The detector's loop (started by the voucher service): passes until nothing is left,
    then waits `interval_s`. A failure is logged and retried next time."""
    while True:
        try:
            while True:
                async with db.unit_of_work() as session:
                    done = await detect_once(
                        session, places, batch_size=batch_size, settle_s=settle_s
                    )
                if done.raised or done.extended:
                    log.info(
                        "anomalies: %d alert(s) raised, %d extended", done.raised, done.extended
                    )
                if done.events < batch_size or done.cursor == done.start:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("anomaly detection failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_s)
