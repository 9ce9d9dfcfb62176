"""Scheduled issuance (services/voucher/service/scheduler.py): due by itself, exactly once when
two schedulers and an officer race, resumed after a scheduler is killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from services.common.db import Database
from services.voucher.service.issuance import IssuanceEngine
from services.voucher.service.periods import due_period, scheduled_at
from services.voucher.service.scheduler import Scheduler
from tests.voucher.data.conftest import CITY
from tests.voucher.data.test_issuance import FACE, enrol_many, run

ROOT = Path(__file__).resolve().parents[3]
SH = ZoneInfo("Asia/Shanghai")


def test_the_period_is_due_on_the_first_at_one_in_the_morning_beijing_time():
    assert scheduled_at("2027-01").isoformat() == "2027-01-01T01:00:00+08:00"
    # 00:59 Beijing on the first (still the 31st in UTC): not yet
    assert due_period(datetime(2027, 1, 1, 0, 59, tzinfo=SH)) is None
    assert due_period(datetime(2027, 1, 1, 1, 0, tzinfo=SH)) == "2027-01"
    assert due_period(datetime(2026, 12, 31, 17, 0, tzinfo=ZoneInfo("UTC"))) == "2027-01"
    assert due_period(datetime(2027, 1, 20, 9, 0, tzinfo=SH)) == "2027-01"
    assert due_period(datetime(2027, 1, 4, 23, 0, tzinfo=SH), day=5, hour=6) is None


def scheduler(env, name: str, lease_s: float = 60.0) -> tuple[Scheduler, Database]:
    """A scheduler with its own database pool: its own connections, as a separate process."""
    db = Database(env.vdb.app_url, pool_size=2, application_name=name)
    engine = IssuanceEngine(db, env.app.state.ledger, 3, lease_s=lease_s, wait_s=60)
    return (
        Scheduler(db, engine, province_code="450000", name=name, lease_s=lease_s, retry_s=0.1),
        db,
    )


async def slots(env):
    return {
        r["program_code"]: r
        for r in await env.fetch(
            "SELECT s.*, r.issued, r.trigger FROM scheduled_issuance s "
            "LEFT JOIN issuance_run r ON r.id = s.run_id"
        )
    }


async def test_the_scheduler_issues_each_program_once_by_itself(env):
    await enrol_many(env, 5)
    await env.appropriate(10_000_000)  # disability only: the meal programme has no budget
    s, db = scheduler(env, "scheduler:a")
    try:
        first = await s.tick()
        again = await s.tick()
    finally:
        await db.dispose()
    assert first.planned == 3 and again.planned == 0
    by_code = {o.program_code: o for o in first.outcomes}
    assert by_code["disability_subsidy"].status == "completed"
    assert by_code["disability_subsidy"].issued == 5
    assert by_code["meal_assistance"].status == "budget_exhausted"  # shown loudly, not retried
    assert by_code["nursing_subsidy"].status == "completed"  # nobody is 低保
    assert again.outcomes == []
    assert await env.fetchval("SELECT count(*) FROM voucher") == 5
    rows = await slots(env)
    assert rows["disability_subsidy"]["region_code"] == "450000"
    assert rows["disability_subsidy"]["trigger"] == "schedule"
    assert rows["disability_subsidy"]["period"] == env.period
    assert await env.available() == 10_000_000 - 5 * FACE


async def test_two_schedulers_and_an_officer_racing_issue_exactly_once(env):
    await enrol_many(env, 10)
    await env.appropriate(10_000_000)
    a, db_a = scheduler(env, "scheduler:a")
    b, db_b = scheduler(env, "scheduler:b")
    try:
        results = await asyncio.gather(a.tick(), b.tick(), run(env, region=CITY))
    finally:
        await db_a.dispose()
        await db_b.dispose()
    officer = results[2]
    assert officer.status_code == 200, officer.text
    runs = [o for r in results[:2] for o in r.outcomes if o.program_code == "disability_subsidy"]
    assert len(runs) == 1  # one slot, claimed by one scheduler
    assert runs[0].issued + officer.json()["issued"] == 10
    assert await env.fetchval("SELECT count(*) FROM voucher") == 10
    assert await env.fetchval("SELECT count(DISTINCT beneficiary_id) FROM voucher") == 10
    assert await env.available() == 10_000_000 - 10 * FACE  # the budget committed once
    assert await env.fetchval("SELECT count(*) FROM scheduled_issuance") == 3
    assert await env.fetchval("SELECT count(*) FROM issuance_lock") == 0  # leases released


async def test_a_failed_run_is_recorded_and_retried(env):
    await enrol_many(env, 2)
    await env.appropriate(10_000_000)
    s, db = scheduler(env, "scheduler:a")
    real = env.app.state.ledger.commit

    async def down(**kwargs):
        from services.voucher.errors import LedgerUnavailable

        raise LedgerUnavailable()

    env.app.state.ledger.commit = down
    try:
        first = await s.tick()
        failed = {o.program_code: o for o in first.outcomes}["disability_subsidy"]
        assert (failed.status, failed.error) == ("failed", "LEDGER_UNAVAILABLE")
        row = (await slots(env))["disability_subsidy"]
        assert (row["status"], row["attempts"]) == ("failed", 1)
        env.app.state.ledger.commit = real
        await asyncio.sleep(0.2)  # retry_s
        second = await s.tick()
    finally:
        env.app.state.ledger.commit = real
        await db.dispose()
    done = {o.program_code: o for o in second.outcomes}["disability_subsidy"]
    assert (done.status, done.issued) == ("completed", 2)
    row = (await slots(env))["disability_subsidy"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("completed", 2, None)


# The dead scheduler's claim and issuance lease: long enough that the test's own steps after
# the kill (on a loaded machine) end well before it runs out.
LEASE_S = 5.0

CHILD = """
import asyncio, sys
LEASE_S = float(sys.argv[3])
from services.common.db import Database
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app as create_voucher
from services.voucher.service.issuance import IssuanceEngine
from services.voucher.service.scheduler import Scheduler
from tests.conftest import running

async def main(voucher_url, ledger_url):
    ledger_app = create_ledger(LedgerSettings(database_url=ledger_url))
    async with running(ledger_app) as http:
        app = create_voucher(VoucherSettings(
            database_url=voucher_url, expiry_interval_s=0, directory_poll_interval_s=0))
        app.state.ledger_client = http
        async with running(app) as voucher:
            ledger_app.state.voucher_client = voucher  # the ledger asks it about programmes
            ledger = app.state.ledger
            real = ledger.commit

            async def slow_commit(**kw):
                answer = await real(**kw)
                print("committed", kw["idempotency_key"], flush=True)
                await asyncio.sleep(1.0)  # killed here: committed, nothing written
                return answer

            ledger.commit = slow_commit
            db = Database(voucher_url, pool_size=2)
            engine = IssuanceEngine(db, ledger, 3, lease_s=LEASE_S)
            await Scheduler(db, engine, province_code="450000", name="scheduler:child",
                            lease_s=LEASE_S).tick()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_scheduler_killed_mid_run_is_resumed_without_committing_twice(env):
    await enrol_many(env, 10)  # 4 chunks of at most 3
    await env.appropriate(10_000_000)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        env.vdb.app_url,
        env.ldb.app_url,
        str(LEASE_S),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        seen = []
        while len(seen) < 2:  # the second chunk committed by the ledger, its vouchers unwritten
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            assert line, "the child scheduler ended early"
            seen.append(line)
        child.send_signal(signal.SIGKILL)  # no cleanup of any kind: its leases stay behind
        await asyncio.wait_for(child.wait(), 10)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert await env.fetchval("SELECT count(*) FROM voucher") == 3  # the first chunk only
    assert (
        await env.fetchval(
            "SELECT status FROM scheduled_issuance WHERE program_code = 'disability_subsidy'"
        )
        == "running"
    )
    # Nobody resumes it while the dead scheduler's claim still holds ...
    s, db = scheduler(env, "scheduler:b", lease_s=LEASE_S)
    try:
        early = await s.run_due()  # the programmes the child never reached run now
        assert "disability_subsidy" not in {o.program_code for o in early}
        await asyncio.sleep(LEASE_S + 0.1)  # ... then the next claim resumes it
        outcomes = await s.run_due()
    finally:
        await db.dispose()
    done = {o.program_code: o for o in outcomes}["disability_subsidy"]
    assert done.status == "completed"
    assert done.issued == 7  # the dead run's committed chunk, then the rest
    assert await env.fetchval("SELECT count(*) FROM voucher") == 10
    assert await env.fetchval("SELECT count(DISTINCT beneficiary_id) FROM voucher") == 10
    assert await env.available() == 10_000_000 - 10 * FACE  # nothing committed twice
    row = (await slots(env))["disability_subsidy"]
    assert (row["status"], row["attempts"]) == ("completed", 2)
    assert (
        await env.fetchval(
            "SELECT count(*) FROM issuance_run WHERE trigger = 'schedule' "
            "AND program_code = 'disability_subsidy' AND status = 'interrupted'"
        )
        == 1
    )


async def test_the_schedule_is_readable_in_scope_with_its_runs_counts(env, tokens):
    await enrol_many(env, 2)
    await env.appropriate(10_000_000)
    s, db = scheduler(env, "scheduler:a")
    try:
        await s.tick()
    finally:
        await db.dispose()
    r = await env.v.get("/v1/issuance-schedule", headers=env.officer)  # a city officer
    assert r.status_code == 200, r.text
    rows = {row["program_code"]: row for row in r.json()}
    assert set(rows) == {"disability_subsidy", "meal_assistance", "nursing_subsidy"}
    d = rows["disability_subsidy"]
    assert (d["status"], d["region_code"], d["issued"], d["eligible"]) == (
        "completed",
        "450000",
        2,
        2,
    )
    m = rows["meal_assistance"]
    assert m["status"] == "budget_exhausted" and m["failed"] == 2
    # a period with nothing, a bad period, a wrong role
    r = await env.v.get("/v1/issuance-schedule?period=2020-01", headers=env.officer)
    assert r.status_code == 200 and r.json() == []
    r = await env.v.get("/v1/issuance-schedule?period=2020-13", headers=env.officer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_PERIOD"
    provider = tokens.headers("provider_admin", sub="p:1", provider_id="p1")
    r = await env.v.get("/v1/issuance-schedule", headers=provider)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # a programme of one city is not shown to another city's officer
    conn = await env.db()
    try:
        await conn.execute(
            "UPDATE scheduled_issuance SET region_code = '450100' "
            "WHERE program_code = 'nursing_subsidy'"
        )
    finally:
        await conn.close()
    r = await env.v.get("/v1/issuance-schedule", headers=env.other_officer)
    assert {row["program_code"] for row in r.json()} == {"disability_subsidy", "meal_assistance"}
