"""Each anomaly rule fires on events crafted to trip it, stays quiet just below its
threshold, and never raises the same evidence twice (also when the detector reads the
stream again from the start)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.voucher.service import anomaly_rules as rules
from tests.voucher.anomalies.conftest import alerts, craft, detect, ids_of

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


async def _people(world, n: int) -> list[tuple]:
    out = []
    for _ in range(n):
        b = await world.add_beneficiary()
        v = await world.add_voucher(b)
        out.append((b, v))
    return out


async def test_terminal_burst_fires_above_threshold_once(world):
    pid = world.add_provider()
    t = world.add_terminal(pid)
    people = await _people(world, 11)
    # 11 distinct elders in 9 minutes: more than the default 10 within 10 minutes.
    ids = [
        await craft(
            world,
            voucher_id=v,
            beneficiary_id=b,
            provider_id=pid,
            terminal_id=t.id,
            at=T0 + timedelta(seconds=50 * i),
        )
        for i, (b, v) in enumerate(people)
    ]
    result = await detect(world)
    assert result.raised == 1
    [alert] = await alerts(world, rules.TERMINAL_BURST)
    assert alert["subject_id"] == t.id
    assert ids_of(alert) == {str(i) for i in ids}
    assert alert["facts"]["elders"] == 11
    assert alert["facts"]["thresholds"] == {"max_elders": 10, "window_minutes": 10}
    assert alert["provider_ids"] == [pid]

    # Read the whole stream again: the same evidence raises nothing.
    await world.conn.execute("UPDATE anomaly_cursor SET last_outbox_id = 0")
    again = await detect(world)
    assert again.raised == 0 and again.extended == 0
    assert len(await alerts(world)) == 1

    # One more elder in the same episode joins the open alert, not a new one.
    b, v = (await _people(world, 1))[0]
    extra = await craft(
        world,
        voucher_id=v,
        beneficiary_id=b,
        provider_id=pid,
        terminal_id=t.id,
        at=T0 + timedelta(minutes=9, seconds=30),
    )
    more = await detect(world)
    assert more.raised == 0 and more.extended == 1
    [alert] = await alerts(world, rules.TERMINAL_BURST)
    assert str(extra) in ids_of(alert)


async def test_terminal_burst_quiet_at_threshold(world):
    pid = world.add_provider()
    t = world.add_terminal(pid)
    people = await _people(world, 10)
    for i, (b, v) in enumerate(people):  # exactly 10: not more than 10
        await craft(
            world,
            voucher_id=v,
            beneficiary_id=b,
            provider_id=pid,
            terminal_id=t.id,
            at=T0 + timedelta(seconds=50 * i),
        )
    # An 11th, but 11 minutes after the first: no 10-minute window holds 11.
    b, v = (await _people(world, 1))[0]
    await craft(
        world,
        voucher_id=v,
        beneficiary_id=b,
        provider_id=pid,
        terminal_id=t.id,
        at=T0 + timedelta(minutes=11),
    )
    assert (await detect(world)).raised == 0
    assert await alerts(world) == []


async def test_terminal_burst_threshold_per_region(world):
    """An officer's lower threshold for the region makes the same traffic an alert."""
    pid = world.add_provider()
    t = world.add_terminal(pid)
    await world.conn.execute(
        "INSERT INTO anomaly_rule (region_code, rule_code, version, enabled, thresholds, "
        "updated_by) VALUES ('450100', 'terminal_burst', 1, true, "
        "'{\"max_elders\": 2, \"window_minutes\": 10}', 'test')"
    )
    for i, (b, v) in enumerate(await _people(world, 3)):
        await craft(
            world,
            voucher_id=v,
            beneficiary_id=b,
            provider_id=pid,
            terminal_id=t.id,
            at=T0 + timedelta(minutes=i),
        )
    assert (await detect(world)).raised == 1
    [alert] = await alerts(world)
    assert alert["facts"]["rule_region_code"] == "450100"


async def test_distant_providers(world, place):
    near = world.add_provider()
    far = world.add_provider()
    close = world.add_provider()
    place(near, 22.8170, 108.3665)  # Nanning
    place(far, 22.8170, 108.7000)  # about 34 km east
    place(close, 22.8170, 108.4800)  # about 11.6 km east
    b, v = (await _people(world, 1))[0]
    a1 = await craft(world, voucher_id=v, beneficiary_id=b, provider_id=near, at=T0)
    # Within 60 minutes but only ~11.6 km: quiet.
    await craft(
        world, voucher_id=v, beneficiary_id=b, provider_id=close, at=T0 + timedelta(minutes=20)
    )
    assert (await detect(world)).raised == 0
    # ~34 km away 130 minutes later: outside the window of both, quiet.
    await craft(
        world, voucher_id=v, beneficiary_id=b, provider_id=far, at=T0 + timedelta(minutes=130)
    )
    assert (await detect(world)).raised == 0
    # ~34 km away 30 minutes later: an alert naming both, with the distance.
    a2 = await craft(
        world, voucher_id=v, beneficiary_id=b, provider_id=far, at=T0 + timedelta(minutes=30)
    )
    assert (await detect(world)).raised == 1
    [alert] = await alerts(world, rules.DISTANT_PROVIDERS)
    assert {str(a1), str(a2)} <= ids_of(alert)
    assert 33 < alert["facts"]["max_km"] < 35
    assert {e["lat"] for e in alert["evidence"]} >= {22.817}
    await world.conn.execute("UPDATE anomaly_cursor SET last_outbox_id = 0")
    assert (await detect(world)).raised == 0


async def test_month_end_drain_three_months(world):
    pid = world.add_provider()
    b = await world.add_beneficiary()
    vouchers = {
        p: await world.add_voucher(b, period=p, face_fen=10_000)
        for p in ("2026-09", "2026-10", "2026-11")
    }
    ends = {
        "2026-09": date(2026, 9, 29),
        "2026-10": date(2026, 10, 30),
        "2026-11": date(2026, 11, 28),
    }
    made = []
    for p in ("2026-09", "2026-10"):
        made.append(
            await craft(
                world,
                voucher_id=vouchers[p],
                beneficiary_id=b,
                provider_id=pid,
                at=datetime.combine(ends[p], datetime.min.time(), UTC) + timedelta(hours=3),
                day_on=ends[p],
                subsidy_fen=9_000,
            )
        )
    # Two months drained: quiet.
    assert (await detect(world)).raised == 0
    # November: 7,000 of 10,000 in the last 3 days, below 80 %: quiet.
    low = await craft(
        world,
        voucher_id=vouchers["2026-11"],
        beneficiary_id=b,
        provider_id=pid,
        at=datetime(2026, 11, 28, 3, tzinfo=UTC),
        day_on=date(2026, 11, 28),
        subsidy_fen=7_000,
    )
    assert (await detect(world)).raised == 0
    # Another 1,500 on the 29th: 85 % drained the third month running.
    last = await craft(
        world,
        voucher_id=vouchers["2026-11"],
        beneficiary_id=b,
        provider_id=pid,
        at=datetime(2026, 11, 29, 3, tzinfo=UTC),
        day_on=date(2026, 11, 29),
        subsidy_fen=1_500,
    )
    assert (await detect(world)).raised == 1
    [alert] = await alerts(world, rules.MONTH_END_DRAIN)
    assert ids_of(alert) == {str(x) for x in (*made, low, last)}
    await world.conn.execute("UPDATE anomaly_cursor SET last_outbox_id = 0")
    assert (await detect(world)).raised == 0


async def test_void_share(world):
    pid = world.add_provider()
    t = world.add_terminal(pid)
    now = datetime.now(UTC) - timedelta(hours=1)
    people = await _people(world, 1)
    b, v = people[0]
    # 20 redemptions, 6 voided: 30 %, not more than the default 30 %: quiet.
    for i in range(20):
        await craft(
            world,
            voucher_id=v,
            beneficiary_id=b,
            provider_id=pid,
            terminal_id=t.id,
            at=now + timedelta(seconds=i),
            status="voided" if i < 6 else "completed",
        )
    assert (await detect(world)).raised == 0
    # One more void: 7 of 21 = 33 %: an alert with the voids as evidence.
    await craft(
        world,
        voucher_id=v,
        beneficiary_id=b,
        provider_id=pid,
        terminal_id=t.id,
        at=now + timedelta(seconds=30),
        status="voided",
    )
    assert (await detect(world)).raised == 1
    [alert] = await alerts(world, rules.VOID_SHARE)
    assert len(alert["evidence"]) == 7
    assert alert["facts"]["voids"] == 7 and alert["facts"]["redemptions"] == 21
    await world.conn.execute("UPDATE anomaly_cursor SET last_outbox_id = 0")
    assert (await detect(world)).raised == 0


async def _timeline(world, b, status: str, on: date, until: date | None = None) -> None:
    """A change on the person's status timeline, as the lifecycle records it (the rules read
    dates of death and hospital stays from there, service/lifecycle_facts.py)."""
    await world.conn.execute(
        "INSERT INTO beneficiary_status_change (id, beneficiary_id, status, effective_on, "
        "until, reason, from_status, from_region_code, created_by) "
        "VALUES (gen_random_uuid(), $1, $2, $3, $4, '测试', 'active', '450103', 'test')",
        b,
        status,
        on,
        until,
    )


async def test_after_death(world):
    """A redemption dated on or after the recorded date of death: the death's effective
    date on the timeline, not the day it was recorded (here a week later)."""
    pid = world.add_provider()
    b, v = (await _people(world, 1))[0]
    before = await craft(
        world, voucher_id=v, beneficiary_id=b, provider_id=pid, at=T0 - timedelta(days=2)
    )
    after = await craft(
        world, voucher_id=v, beneficiary_id=b, provider_id=pid, at=T0 + timedelta(days=1)
    )
    await world.conn.execute(
        "UPDATE beneficiary SET status = 'deceased', status_changed_at = $2 WHERE id = $1",
        b,
        T0 + timedelta(days=7),
    )
    await _timeline(world, b, "deceased", date(2026, 11, 20))
    assert (await detect(world)).raised == 1
    [alert] = await alerts(world, rules.AFTER_DEATH)
    assert ids_of(alert) == {str(after)}
    assert str(before) not in ids_of(alert)
    assert alert["facts"]["died_on"] == "2026-11-20"


async def test_during_hospital_stay(world):
    """A redemption strictly inside a recorded stay (admission and the first day out are
    allowed); a discharge recorded later ends the stay the day before it."""
    pid = world.add_provider()
    (b, v), (b2, v2) = await _people(world, 2)
    stay = [T0 + timedelta(days=d) for d in (0, 2, 5, 6)]  # admitted, inside, last day, out
    made = [
        await craft(world, voucher_id=v, beneficiary_id=b, provider_id=pid, at=at) for at in stay
    ]
    await _timeline(world, b, "hospitalised", date(2026, 11, 20), date(2026, 11, 25))
    # the other person: an open stay from the 20th, discharged on the 22nd
    other = [
        await craft(world, voucher_id=v2, beneficiary_id=b2, provider_id=pid, at=at)
        for at in (T0 + timedelta(days=1), T0 + timedelta(days=3))
    ]
    await _timeline(world, b2, "hospitalised", date(2026, 11, 20))
    await _timeline(world, b2, "active", date(2026, 11, 22))
    assert (await detect(world)).raised == 3  # one alert per redemption inside a stay
    by_person: dict[str, set[str]] = {}
    for a in await alerts(world, rules.DURING_HOSPITAL):
        by_person.setdefault(a["subject_id"], set()).update(ids_of(a))
    assert by_person == {str(b): {str(made[1]), str(made[2])}, str(b2): {str(other[0])}}


async def test_disabled_rule_is_quiet(world):
    pid = world.add_provider()
    t = world.add_terminal(pid)
    await world.conn.execute(
        "INSERT INTO anomaly_rule (region_code, rule_code, version, enabled, thresholds, "
        "updated_by) VALUES ('450000', 'terminal_burst', 1, false, "
        "'{\"max_elders\": 1, \"window_minutes\": 10}', 'test')"
    )
    for i, (b, v) in enumerate(await _people(world, 3)):
        await craft(
            world,
            voucher_id=v,
            beneficiary_id=b,
            provider_id=pid,
            terminal_id=t.id,
            at=T0 + timedelta(minutes=i),
        )
    assert (await detect(world)).raised == 0


async def test_cursor_waits_for_young_events(world):
    """Events younger than the settle time are read again on the next pass (a transaction
    still open may commit an earlier id), and raise nothing twice."""
    pid = world.add_provider()
    b, v = (await _people(world, 1))[0]
    await craft(world, voucher_id=v, beneficiary_id=b, provider_id=pid, at=datetime.now(UTC))
    first = await detect(world, settle_s=3600)
    assert first.events == 1 and first.cursor == 0
    second = await detect(world, settle_s=0)
    assert second.events == 1 and second.cursor > 0
    assert (await detect(world, settle_s=0)).events == 0


def test_thresholds_validated():
    assert rules.validate_thresholds("terminal_burst", {"max_elders": 5, "window_minutes": 3})
    for bad in (
        {"max_elders": 0, "window_minutes": 3},
        {"max_elders": 5},
        {"max_elders": 5, "window_minutes": 3, "x": 1},
        {"max_elders": True, "window_minutes": 3},
    ):
        try:
            rules.validate_thresholds("terminal_burst", bad)
        except rules.ThresholdProblem:
            continue
        raise AssertionError(bad)


def test_distance_is_straight_line():
    # One degree of latitude is about 111.2 km.
    assert 111.0 < rules.distance_km((22.0, 108.0), (23.0, 108.0)) < 111.4


async def _visit(world, b, pid: str, worker: str, start: datetime, minutes: int):
    """A completed home visit of `worker` at `b`'s home, as check-in and check-out leave it."""
    vid = await world.conn.fetchval(
        "INSERT INTO visit (id, beneficiary_id, provider_id, care_worker, status, checked_in_at, "
        "check_in_lat, check_in_lon, location_check, checked_out_at, duration_s) "
        "VALUES (gen_random_uuid(), $1, $2, $3, 'completed', $4, 22.8, 108.3, 'within_radius', "
        "$5, $6) RETURNING id",
        b,
        pid,
        worker,
        start,
        start + timedelta(minutes=minutes),
        minutes * 60,
    )
    return vid


async def test_worker_in_two_homes_at_once(world):
    """One care worker's billed visits overlapping by at least the threshold (5 minutes by
    default) raise one alert with both bills; a few minutes of overlap, another worker at
    the same time, or reading the stream again raise nothing."""
    pid = world.add_provider()
    (b1, v1), (b2, v2), (b3, v3), (b4, v4) = await _people(world, 4)

    async def billed(b, v, worker, start, minutes):
        visit = await _visit(world, b, pid, worker, start, minutes)
        at = start + timedelta(minutes=minutes, seconds=30)
        return await craft(
            world, voucher_id=v, beneficiary_id=b, provider_id=pid, at=at, visit_id=visit
        )

    first = await billed(b1, v1, "张师傅", T0, 60)  # 10:00-11:00
    second = await billed(b2, v2, "张师傅", T0 + timedelta(minutes=30), 60)  # 10:30-11:30
    await billed(b3, v3, "李师傅", T0, 60)  # another worker, same hour
    assert (await detect(world)).raised == 1
    [alert] = await alerts(world, rules.WORKER_OVERLAP)
    assert alert["subject_id"] == f"{pid}:张师傅"
    assert ids_of(alert) == {str(first), str(second)}
    assert alert["facts"]["care_worker"] == "张师傅"
    assert len(alert["facts"]["visits"]) == 2

    # 11:27-12:00: three minutes inside the second visit, under the threshold
    await billed(b4, v4, "张师傅", T0 + timedelta(minutes=87), 33)
    quiet = await detect(world)
    assert quiet.raised == 0 and quiet.extended == 0

    await world.conn.execute("UPDATE anomaly_cursor SET last_outbox_id = 0")
    again = await detect(world)
    assert again.raised == 0 and again.extended == 0
    assert len(await alerts(world, rules.WORKER_OVERLAP)) == 1


def test_overlapping_visits_rule():
    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

    def span(worker: str, start_min: int, end_min: int, provider: str = "p1"):
        import uuid

        return rules.VisitSpan(
            uuid.uuid4(),
            uuid.uuid4(),
            provider,
            worker,
            at + timedelta(minutes=start_min),
            at + timedelta(minutes=end_min),
        )

    mine = span("张", 0, 60)
    others = [
        span("张", 55, 90),  # 5 minutes: counts
        span("张", 56, 90),  # 4 minutes: no
        span("李", 0, 60),  # another worker
        span("张", 0, 60, provider="p2"),  # another provider's 张
        mine,  # itself
    ]
    assert rules.overlapping_visits(mine, others, min_overlap_minutes=5) == [others[0]]
