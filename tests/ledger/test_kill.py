"""Kill test, the ledger's side: the ledger runs as a real uvicorn process; it is SIGKILLed
while applying a large event batch; restarted, it receives the same batch again, and every
event is applied exactly once."""

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.common.db import asyncpg_connect_kwargs
from tests.fixtures.processes import free_port as _free_port
from tests.fixtures.processes import start_ledger
from tests.fixtures.voucher_programs import ledger_in_process
from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, SHARES, redemption

ROOT = Path(__file__).resolve().parents[2]
BATCH = 1500


def _start(app_url: str, port: int) -> subprocess.Popen:
    return start_ledger(app_url, port, stderr=subprocess.PIPE)


async def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                if (await c.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the ledger did not start")


async def _kill_when_writing(owner_url: str, proc: subprocess.Popen) -> str:
    """SIGKILL the process once its transaction is open in the database (mid-request)."""
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(owner_url))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = await conn.fetchval(
                "SELECT state FROM pg_stat_activity WHERE application_name = 'yiyang-ledger' "
                "AND xact_start IS NOT NULL AND state <> 'idle' LIMIT 1"
            )
            if state:
                proc.send_signal(signal.SIGKILL)
                return state
            await asyncio.sleep(0.002)
        raise AssertionError("the batch never reached the database")
    finally:
        await conn.close()


@pytest.mark.timeout(180)
async def test_sigkill_mid_batch_then_resend_applies_each_event_once(make_db, tokens):
    sdb = await make_db("ledger")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    service = tokens.headers("service")
    finance = tokens.headers("finance", region="450000")
    # Funded in-process first (the process has no voucher service to ask about programmes;
    # what is killed below is event delivery).
    async with ledger_in_process(sdb.app_url) as c:
        r = await c.post(
            "/v1/appropriations",
            headers=finance,
            json={
                "idempotency_key": "kill-appr",
                "program_code": PROGRAM,
                "region_code": CITY,
                "by_source": {"central": 95_000_000, "regional": 5_000_000},
                "memo": "预算下达",
            },
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            "/v1/commitments",
            headers=service,
            json={
                "idempotency_key": "kill-commit",
                "purpose": "voucher",
                "program_code": PROGRAM,
                "region_code": DISTRICT,
                "period": "2026-11",
                "amount_fen": 50_000_000,
                "count": 5000,
                "funding_shares": SHARES,
            },
        )
        assert r.status_code == 201, r.text
    proc = _start(sdb.app_url, port)
    try:
        await _wait_ready(base, proc)
        batch = [
            redemption(100 + i % 900, provider=f"p{i % 7}", voucher=f"v{i}") for i in range(BATCH)
        ]
        # 1) killed mid-request: the client gets no answer
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            send = asyncio.create_task(
                c.post("/v1/events", headers=service, json={"events": batch})
            )
            state = await _kill_when_writing(sdb.owner_url, proc)
            with pytest.raises(httpx.TransportError):
                await send
        proc.wait(10)
        assert state
        # 2) restarted: the same batch, and then once more
        proc = _start(sdb.app_url, port)
        await _wait_ready(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=120) as c:
            first = await c.post("/v1/events", headers=service, json={"events": batch})
            assert first.status_code == 200, first.text
            statuses = {r["status"] for r in first.json()["results"]}
            assert statuses <= {"applied", "duplicate"}, statuses
            again = await c.post("/v1/events", headers=service, json={"events": batch})
            assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
            verify = (
                await c.get("/v1/chain/verify", headers=tokens.headers("auditor", region="450000"))
            ).json()
            assert verify["ok"], verify
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(sdb.owner_url))
    try:
        ids = [uuid.UUID(e["event_id"]) for e in batch]
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM ledger_event WHERE event_id = ANY($1::uuid[]) "
                "AND status = 'applied'",
                ids,
            )
            == BATCH
        )
        assert await conn.fetchval("SELECT count(*) FROM entry WHERE kind = 'redemption'") == BATCH
        subsidy = sum(e["payload"]["subsidy_fen"] for e in batch)
        assert (
            await conn.fetchval("SELECT -sum(balance_fen) FROM account WHERE code = '2201'")
            == subsidy
        )
        assert await conn.fetchval("SELECT sum(amount_fen) FROM posting") == 0
    finally:
        await conn.close()
