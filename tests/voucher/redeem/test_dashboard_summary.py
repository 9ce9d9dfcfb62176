"""The dashboard's summaries (docs/dashboard.md "Summaries"): after enrolments, changes of
grade, care setting and status, issuance (row by row and set-wise), redemptions and voids,
the summary-based figures equal the scanning queries the dashboard used before
(loadtests/dashboard_scan.py, the reference); summarisers racing on real connections count
each event once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text
from sqlmodel import col

from loadtests.dashboard_scan import scan_enrolled, scan_enrolled_by_child, scan_use
from services.voucher.models import SummaryUse
from services.voucher.repository import dashboard as repo
from services.voucher.service import summary
from tests.voucher.redeem.conftest import key, qr

PERIOD = "2026-11"


async def assert_summaries_equal_scans(db) -> None:
    async with db.unit_of_work() as s:
        for like in ("45%", "4501%", "450103%", "4502%", "450203%", "4503%"):
            assert sorted(await repo.enrolled(s, like), key=str) == sorted(
                await scan_enrolled(s, like), key=str
            ), like
            for digits in (4, 6, 9):
                assert await repo.enrolled_by_child(s, like, digits) == (
                    await scan_enrolled_by_child(s, like, digits)
                ), (like, digits)
                assert await repo.use(s, like, period=PERIOD, key="child", digits=digits) == (
                    await scan_use(s, like, period=PERIOD, key="child", digits=digits)
                ), (like, digits)
            for period in (PERIOD, "2026-10"):
                assert await repo.use(s, like, period=period, key="program") == (
                    await scan_use(s, like, period=period, key="program")
                ), (like, period)
            assert await repo.use(s, like, period=None, key="period") == (
                await scan_use(s, like, period=None, key="period")
            ), like


async def redeem(world, term, ben) -> dict:
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 8000,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_summaries_equal_the_scanning_queries(world, tokens):
    db = world.app.state.db
    pid = world.add_provider()
    term = world.add_terminal(pid)
    people = [await world.add_beneficiary() for _ in range(4)]
    others = [
        await world.add_beneficiary(region=r)
        for r in ("450105", "450203", "450203001", "450203001", "450300")
    ]
    await world.add_beneficiary(status="suspended")
    # the enrolment triggers' update and delete paths: grade, care setting, status, region
    conn = world.conn
    await conn.execute("UPDATE beneficiary SET grade = NULL WHERE id = $1", others[0])
    await conn.execute("UPDATE beneficiary SET grade = 0 WHERE id = $1", others[1])
    await conn.execute("UPDATE beneficiary SET care_setting = 'home' WHERE id = $1", others[2])
    await conn.execute("UPDATE beneficiary SET status = 'suspended' WHERE id = $1", people[3])
    await conn.execute("UPDATE beneficiary SET region_code = '450203' WHERE id = $1", others[3])
    await conn.execute("UPDATE beneficiary SET name = '改名'")  # changes nothing counted
    # issuance row by row, and set-wise (one statement for many people, as issuance runs)
    vouchers = [await world.add_voucher(b, face_fen=50_000, period=PERIOD) for b in people[:3]]
    await world.add_voucher(people[0], face_fen=20_000, period="2026-10")
    await conn.execute(
        """INSERT INTO voucher (id, beneficiary_id, program_code, program_version, period,
               face_fen, balance_fen, valid_from, valid_until, status, region_code,
               budget_region_code, care_setting, funding_shares, allowed_kinds,
               allowed_categories, priority)
           SELECT gen_random_uuid(), b.id, 'meal_subsidy', 1, $1, 30000, 30000, now(),
                  now() + interval '30 days', 'active', b.region_code, '450100',
                  b.care_setting, '{"central": 10000}'::jsonb, '{}', '{}', 100
             FROM beneficiary b WHERE b.region_code NOT LIKE '450103%'""",
        PERIOD,
    )
    # redemptions and a void through the API (events in the outbox), summed on demand
    paid = [await redeem(world, term, b) for b in people[:3]]
    paid.append(await redeem(world, term, people[0]))
    r = await world.client.post(
        f"/v1/redemptions/{paid[1]['id']}/void", headers=term.headers, json={"reason": "录错"}
    )
    assert r.status_code == 200, r.text
    folded = await summary.catch_up(db, batch_size=2, settle_s=0)
    assert folded == 5  # four redemptions and a void, two at a time
    await assert_summaries_equal_scans(db)
    assert vouchers
    # the dashboard answers from the summaries and catches up by itself before it reads
    await redeem(world, term, people[2])
    officer = tokens.headers("civil_affairs", sub="o:gx", region="450000")
    r = await world.client.get(
        "/v1/dashboard", headers=officer, params={"region_code": "450000", "period": PERIOD}
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["enrolled"]["total"] == await conn.fetchval(
        "SELECT count(*) FROM beneficiary WHERE status = 'active'"
    )
    programs = {p["program_code"]: p for p in d["programs"]}
    assert programs["disability_subsidy"]["redemptions"] == 4
    await assert_summaries_equal_scans(db)
    # nothing is counted twice: a pass with nothing new changes nothing
    assert await summary.catch_up(db, batch_size=100, settle_s=0) == 0
    await assert_summaries_equal_scans(db)


async def test_racing_summarisers_count_each_event_once(world):
    db = world.app.state.db
    n = 300
    async with db.unit_of_work() as s:
        await s.execute(
            text(
                """INSERT INTO outbox (event_id, type, payload, occurred_at)
                   SELECT gen_random_uuid(),
                          CASE WHEN i % 10 = 0 THEN 'redemption.voided'
                               ELSE 'redemption.created' END,
                          jsonb_build_object('region_code', '4501030' || (i % 3),
                                             'program_code', 'meal_subsidy',
                                             'budget_region_code', '450100',
                                             'period', '2026-11', 'subsidy_fen', i),
                          now() - interval '1 minute'
                     FROM generate_series(1, :n) AS i"""
            ),
            {"n": n},
        )

    async def summariser() -> int:
        passes = 0
        while True:
            async with db.unit_of_work() as s:
                done = await summary.summarise_once(s, batch_size=7, settle_s=0)
            passes += 1
            if done.cursor == done.start:
                return passes

    await asyncio.gather(*(summariser() for _ in range(3)))
    async with db.unit_of_work() as s:
        got = (
            await s.execute(
                select(
                    func.sum(col(SummaryUse.redemptions)), func.sum(col(SummaryUse.redeemed_fen))
                )
            )
        ).one()
    voids = [i for i in range(1, n + 1) if i % 10 == 0]
    created = [i for i in range(1, n + 1) if i % 10 != 0]
    assert (int(got[0]), int(got[1])) == (len(created) - len(voids), sum(created) - sum(voids))
    cursor = await world.conn.fetchval(
        "SELECT last_outbox_id FROM summary_cursor WHERE name = 'dashboard'"
    )
    assert cursor == await world.conn.fetchval("SELECT max(id) FROM outbox")
