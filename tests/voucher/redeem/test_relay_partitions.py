"""The partitioned relay (issue 20): events carry their book, several relay workers share the
partitions by leases, each partition has one owner at a time, ownership moves when a worker
dies, order is kept within a partition and every event is applied exactly once. Three
workers as real processes, SIGKILLed mid-delivery."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import orjson
import pytest

from tests.fixtures.processes import free_port
from tests.fixtures.voucher_programs import ledger_in_process
from tests.voucher.redeem.test_relay import ROOT, SHARES, _kill, _ledger, _until

CITIES = ("450100", "450200", "450300", "450400")


async def fund_city(client: httpx.AsyncClient, tokens, city: str, amount: int) -> None:
    r = await client.post(
        "/v1/appropriations",
        headers=tokens.headers("finance", region="450000"),
        json={
            "idempotency_key": f"appr-{uuid.uuid4()}",
            "program_code": "disability_subsidy",
            "region_code": city,
            "by_source": {"central": amount, "regional": amount},
            "memo": "预算下达",
        },
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/commitments",
        headers=tokens.headers("service"),
        json={
            "idempotency_key": f"issuance:{uuid.uuid4()}:0",
            "purpose": "voucher",
            "program_code": "disability_subsidy",
            "region_code": city,
            "period": "2026-11",
            "amount_fen": amount,
            "count": 1,
            "funding_shares": SHARES,
        },
    )
    assert r.status_code == 201, r.text


def _worker(voucher_url: str, port: int, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.voucher.relay",
            "--database-url",
            voucher_url,
            "--ledger-url",
            f"http://127.0.0.1:{port}",
            "--batch-size",
            "50",
            "--idle",
            "0.05",
            "--lease-s",
            "1.5",
            "--worker-id",
            name,
        ],
        cwd=ROOT,
        env=dict(os.environ, YIYANG_ENV="test"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _payload(city: str, i: int, redemption_id: str) -> dict:
    return {
        "program_code": "disability_subsidy",
        "region_code": city[:4] + "03",
        "budget_region_code": city,
        "period": "2026-11",
        "funding_shares": SHARES,
        "redemption_id": redemption_id,
        "voucher_id": f"v-{i}",
        "beneficiary_id": f"b-{i}",
        "provider_id": f"p{i % 5}",
        "service_code": "CARE_BATH",
        "gross_fen": 2 * (100 + i % 900),
        "subsidy_fen": 100 + i % 900,
        "copay_fen": 100 + i % 900,
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_three_workers_share_the_partitions_and_survive_being_killed(
    voucher_db, make_db, tokens
):
    ldb = await make_db("ledger")
    port = free_port()
    async with ledger_in_process(ldb.app_url) as c:
        for city in CITIES:
            await fund_city(c, tokens, city, 20_000_000)
    ledger = _ledger(ldb.app_url, port)
    vconn = await asyncpg.connect(voucher_db.owner_url)
    lconn = await asyncpg.connect(ldb.owner_url)
    workers: dict[str, subprocess.Popen] = {}
    # enough that three workers share the partitions before the first has sent them all
    # (posting got faster: with 1,600 the first worker could drain most of it alone)
    n = 6000
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:

            async def ledger_up() -> bool:
                try:
                    return (await c.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await _until(ledger_up, 30, "the ledger")
        # Redemptions in four cities, every fourth voided right after it (same partition:
        # a void delivered before its redemption would be refused UNKNOWN_REDEMPTION).
        now = datetime.now(UTC)
        rows, voids, subsidy = [], 0, 0
        for i in range(n):
            city = CITIES[i % len(CITIES)]
            rid = str(uuid.uuid4())
            p = _payload(city, i, rid)
            rows.append((uuid.uuid4(), "redemption.created", orjson.dumps(p).decode(), now))
            if i % 4 == 0:
                v = {k: p[k] for k in ("program_code", "region_code", "budget_region_code",
                                       "period", "funding_shares", "redemption_id",
                                       "voucher_id", "beneficiary_id", "provider_id",
                                       "subsidy_fen")}  # fmt: skip
                v["reason"] = "wrong bill"
                rows.append((uuid.uuid4(), "redemption.voided", orjson.dumps(v).decode(), now))
                voids += 1
            else:
                subsidy += p["subsidy_fen"]
        await vconn.executemany(
            "INSERT INTO outbox (event_id, type, payload, occurred_at) "
            "VALUES ($1, $2, $3::jsonb, $4)",
            rows,
        )
        books = await vconn.fetch("SELECT DISTINCT book FROM outbox ORDER BY book")
        assert [b["book"] for b in books] == ["4501", "4502", "4503", "4504"]
        total = len(rows)

        async def delivered() -> int:
            return await vconn.fetchval(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"
            )

        async def owners() -> dict[str, str]:
            return {
                r["partition"]: r["owner"]
                for r in await vconn.fetch(
                    "SELECT partition, owner FROM relay_lease WHERE partition NOT LIKE '~%' "
                    "AND owner IS NOT NULL AND expires_at > now()"
                )
            }

        async def in_flight(name: str) -> bool:
            return bool(
                await vconn.fetchval(
                    "SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
                    "WHERE a.application_name = 'yiyang-relay' AND a.state <> 'idle' "
                    "AND l.relation = 'outbox'::regclass AND l.mode = 'RowShareLock' "
                    "AND a.xact_start IS NOT NULL"
                )
            ) and name in set((await owners()).values())

        for name in ("w1", "w2", "w3"):
            workers[name] = _worker(voucher_db.app_url, port, name)

        # every worker owns a share: no partition has two owners (a primary key), and
        # each of the three owns at least one of the four
        async def shared() -> bool:
            return set((await owners()).values()) == {"w1", "w2", "w3"}

        await _until(shared, 60, "the partitions shared by three workers")
        # 1) w1 is SIGKILLed mid-batch: its partitions move to the others
        await _until(lambda: in_flight("w1"), 60, "w1 delivering")
        lost = {p for p, o in (await owners()).items() if o == "w1"}
        _kill(workers.pop("w1"))
        before = await delivered()
        assert before < total

        async def moved() -> bool:
            """Each of w1's partitions has a live new owner, or nothing left to deliver (a
            partition without work is not leased by anyone: w1 may have drained one before
            it died)."""
            now_owners = await owners()
            waiting = {
                r["book"]
                for r in await vconn.fetch(
                    "SELECT DISTINCT book FROM outbox WHERE delivered_at IS NULL"
                )
            }
            return all(now_owners.get(p) in ("w2", "w3") or p not in waiting for p in lost)

        await _until(moved, 60, "w1's partitions taken over")

        # 2) w2 too, and a new worker w4 joins
        # (on a fast machine the others may have delivered everything by now: then w2 is
        # killed idle, and w4 still has to find nothing left to send twice)
        async def w2_busy_or_all_sent() -> bool:
            return await in_flight("w2") or await delivered() == total

        await _until(w2_busy_or_all_sent, 60, "w2 delivering")
        _kill(workers.pop("w2"))
        workers["w4"] = _worker(voucher_db.app_url, port, "w4")
        # 3) everything arrives, once
        await _until(lambda: _count_is(delivered, total), 240, "every event delivered")
        assert await vconn.fetchval("SELECT count(*) FROM outbox WHERE rejected") == 0
        ids = [r[0] for r in rows]
        applied = await lconn.fetchval(
            "SELECT count(*) FROM ledger_event WHERE event_id = ANY($1::uuid[]) "
            "AND status = 'applied'",
            ids,
        )
        assert applied == total
        assert await lconn.fetchval("SELECT count(*) FROM entry WHERE kind = 'redemption'") == n
        assert await lconn.fetchval("SELECT count(*) FROM entry WHERE reverses_entry_id IS NOT "
                                    "NULL") == voids  # fmt: skip
        assert (
            await lconn.fetchval("SELECT -sum(balance_fen) FROM account WHERE code = '2201'")
            == subsidy
        )
        assert await lconn.fetchval("SELECT sum(amount_fen) FROM posting") == 0
        # each book's redemptions were posted in outbox order (one owner at a time)
        for city in CITIES:
            refs = await lconn.fetch(
                "SELECT ref FROM entry WHERE book = $1 AND kind = 'redemption' ORDER BY seq",
                city[:4],
            )
            order = [r["ref"] for r in refs]
            sent = [
                orjson.loads(r[2])["redemption_id"]
                for r in rows
                if r[1] == "redemption.created" and orjson.loads(r[2])["budget_region_code"] == city
            ]
            assert order == sent
    finally:
        for proc in workers.values():
            _kill(proc)
        _kill(ledger)
        await vconn.close()
        await lconn.close()


async def _count_is(counter, n: int) -> bool:
    return await counter() == n


def test_the_fair_share_gives_a_joining_worker_its_part():
    from services.voucher.repository.redemption import fair_share

    # four partitions, three live workers: at most two each
    assert fair_share(4, {"a": 2, "b": 2, "c": 0}, "a") == (1, 2)  # c starves: a keeps one
    assert fair_share(4, {"a": 1, "b": 1, "c": 2}, "c") == (2, 2)  # nobody starves
    assert fair_share(4, {"a": 4}, "a") == (4, 4)  # alone: everything
    assert fair_share(1, {"a": 1, "b": 0}, "a") == (1, 1)  # one partition has one owner
    assert fair_share(0, {}, "a") == (0, 0)  # no work: nothing kept
