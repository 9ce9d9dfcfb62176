"""The outbox relay against the real ledger: in process (exact outcomes), and as processes
killed mid-delivery (each event applied exactly once)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger_app
from services.voucher.relay import READY_LINE, Relay
from tests.conftest import running
from tests.fixtures.processes import free_port as _free_port
from tests.fixtures.processes import start_ledger
from tests.fixtures.voucher_programs import ledger_in_process
from tests.voucher.redeem.conftest import key, qr

ROOT = Path(__file__).resolve().parents[3]
SHARES = {"central": 9500, "regional": 500}


async def fund(client: httpx.AsyncClient, tokens, amount: int = 50_000_000) -> None:
    """Budget for disability_subsidy in Nanning, committed to outstanding vouchers."""
    r = await client.post(
        "/v1/appropriations",
        headers=tokens.headers("finance", region="450000"),
        json={
            "idempotency_key": f"appr-{uuid.uuid4()}",
            "program_code": "disability_subsidy",
            "region_code": "450100",
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
            "region_code": "450103",
            "period": "2026-11",
            "amount_fen": amount,
            "count": 1,
            "funding_shares": SHARES,
        },
    )
    assert r.status_code == 201, r.text


async def test_relay_delivers_real_redemptions_and_voids_and_a_redelivery_is_harmless(
    world, make_db, tokens
):
    ldb = await make_db("ledger")
    ledger_app = create_ledger_app(LedgerSettings(database_url=ldb.app_url))
    ledger_app.state.voucher_client = world.client  # which programmes exist
    async with running(ledger_app) as lclient:
        await fund(lclient, tokens)
        pid = world.add_provider()
        term = world.add_terminal(pid)
        ben = await world.add_beneficiary()
        await world.add_voucher(ben)
        ids = []
        for gross in (1000, 2000, 3000):
            r = await world.client.post(
                "/v1/redemptions",
                headers=term.headers,
                json={
                    "token": qr(ben),
                    "service_code": "CARE_BATH",
                    "gross_fen": gross,
                    "idempotency_key": key(),
                },
            )
            ids.append(r.json()["id"])
        await world.client.post(
            f"/v1/redemptions/{ids[0]}/void", headers=term.headers, json={"reason": "wrong bill"}
        )
        # One event the ledger must refuse (an unknown program): it is kept as rejected.
        await world.conn.execute(
            "INSERT INTO outbox (event_id, type, payload) VALUES ($1, 'redemption.created', "
            "$2::jsonb)",
            uuid.uuid4(),
            orjson.dumps({"program_code": "nope"}).decode(),
        )
        pool = world.app.state.db.raw_pool
        relay = Relay(pool, lclient, batch_size=2)
        while await relay.deliver_once():
            pass
        assert (relay.delivered, relay.rejected) == (4, 1)
        lag = (await world.client.get("/v1/outbox/lag", headers=tokens.headers("service"))).json()
        assert lag["undelivered"] == 0 and lag["rejected"] == 1
        lconn = await asyncpg.connect(ldb.owner_url)
        try:
            assert (
                await lconn.fetchval("SELECT count(*) FROM ledger_event WHERE status = 'applied'")
                == 4
            )
            # Payable to providers: 500 + 1000 + 1500 redeemed, 500 voided.
            assert (
                await lconn.fetchval("SELECT -sum(balance_fen) FROM account WHERE code = '2201'")
                == 2500
            )
            # Redeliver everything (as after a crash before the marks were committed).
            await world.conn.execute("UPDATE outbox SET delivered_at = NULL WHERE NOT rejected")
            while await relay.deliver_once():
                pass
            assert (
                await lconn.fetchval("SELECT count(*) FROM ledger_event WHERE status = 'applied'")
                == 4
            )
            assert (
                await lconn.fetchval("SELECT -sum(balance_fen) FROM account WHERE code = '2201'")
                == 2500
            )
        finally:
            await lconn.close()


# --- processes, killed ----------------------------------------------------------------------


def _ledger(app_url: str, port: int) -> subprocess.Popen:
    return start_ledger(app_url, port)


def _relay(voucher_url: str, port: int, *extra: str, log: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, YIYANG_ENV="test")
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
            "100",
            "--idle",
            "0.05",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if log is None else log.open("wb"),
    )


def _redemption_events(n: int) -> list[tuple[uuid.UUID, str, str, datetime]]:
    """`n` redemption.created outbox rows (event_id, type, payload text, occurred_at) the
    funded ledger (`fund`) accepts; subsidies of 100 + i % 900 fen."""
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        payload = {
            "program_code": "disability_subsidy",
            "region_code": "450103",
            "budget_region_code": "450100",
            "period": "2026-11",
            "funding_shares": SHARES,
            "redemption_id": str(uuid.uuid4()),
            "voucher_id": str(uuid.uuid4()),
            "beneficiary_id": str(uuid.uuid4()),
            "provider_id": f"p{i % 7}",
            "service_code": "CARE_BATH",
            "gross_fen": 2 * (100 + i % 900),
            "subsidy_fen": 100 + i % 900,
            "copay_fen": 100 + i % 900,
        }
        events.append((uuid.uuid4(), "redemption.created", orjson.dumps(payload).decode(), now))
    return events


INSERT_EVENTS = (
    "INSERT INTO outbox (event_id, type, payload, occurred_at) VALUES ($1, $2, $3::jsonb, $4)"
)


async def _until(predicate, timeout_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_killing_the_relay_and_the_ledger_mid_delivery_applies_each_event_once(
    voucher_db, make_db, tokens
):
    ldb = await make_db("ledger")
    port = _free_port()
    async with ledger_in_process(ldb.app_url) as c:  # the process has no voucher app to ask
        await fund(c, tokens)
    ledger = _ledger(ldb.app_url, port)
    relay = None
    vconn = await asyncpg.connect(voucher_db.owner_url)
    lconn = await asyncpg.connect(ldb.owner_url)
    n = 3000
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:

            async def ledger_up() -> bool:
                try:
                    return (await c.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await _until(ledger_up, 30, "the ledger")
        events = _redemption_events(n)
        await vconn.executemany(INSERT_EVENTS, events)
        total = sum(100 + i % 900 for i in range(n))

        async def delivered() -> int:
            return await vconn.fetchval(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"
            )

        async def relay_in_flight() -> bool:
            # The relay's transaction is open and holds locked rows: it is mid-delivery.
            return bool(
                await vconn.fetchval(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'yiyang-relay' "
                    "AND xact_start IS NOT NULL AND state <> 'idle'"
                )
            )

        async def ledger_writing() -> bool:
            return bool(
                await lconn.fetchval(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'yiyang-ledger' "
                    "AND xact_start IS NOT NULL AND state <> 'idle'"
                )
            )

        # 1) the relay is SIGKILLed twice while a batch is in flight
        for _round in range(2):
            relay = _relay(voucher_db.app_url, port)
            before = await delivered()
            await _until(lambda b=before: _progress(delivered, b), 60, "relay progress")
            await _until(relay_in_flight, 30, "a batch in flight")
            _kill(relay)
        # 2) the ledger is SIGKILLed while writing a batch, then restarted
        relay = _relay(voucher_db.app_url, port)
        await _until(ledger_writing, 60, "the ledger writing")
        _kill(ledger)
        mid = await delivered()
        assert mid < n
        ledger = _ledger(ldb.app_url, port)
        # 3) everything arrives
        await _until(lambda: _all(delivered, n), 180, "every event delivered")
        _kill(relay)

        assert await vconn.fetchval("SELECT count(*) FROM outbox WHERE rejected") == 0
        ids = [e[0] for e in events]
        assert (
            await lconn.fetchval(
                "SELECT count(*) FROM ledger_event WHERE event_id = ANY($1::uuid[]) "
                "AND status = 'applied'",
                ids,
            )
            == n
        )
        assert await lconn.fetchval("SELECT count(*) FROM entry WHERE kind = 'redemption'") == n
        assert (
            await lconn.fetchval("SELECT -sum(balance_fen) FROM account WHERE code = '2201'")
            == total
        )
        assert await lconn.fetchval("SELECT sum(amount_fen) FROM posting") == 0
    finally:
        if relay is not None:
            _kill(relay)
        _kill(ledger)
        await vconn.close()
        await lconn.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_relay_started_ahead_of_its_start_instant_delivers_nothing_before_it(
    voucher_db, make_db, tokens, tmp_path
):
    """`--start-at` (the bench starts its relays this way, to meter the drain without their
    start-up): the relay starts, connects and logs that it is ready, delivers nothing before
    the instant and everything after it."""
    ldb = await make_db("ledger")
    port = _free_port()
    async with ledger_in_process(ldb.app_url) as c:
        await fund(c, tokens)
    ledger = _ledger(ldb.app_url, port)
    relay = None
    vconn = await asyncpg.connect(voucher_db.owner_url)
    n = 250
    try:
        await vconn.executemany(INSERT_EVENTS, _redemption_events(n))
        log = tmp_path / "relay.log"
        start_at = time.time() + 8.0  # its start-up takes ~1 s of CPU: ample on a busy machine
        relay = _relay(voucher_db.app_url, port, "--start-at", f"{start_at:.3f}", log=log)

        async def delivered() -> int:
            return await vconn.fetchval(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"
            )

        async def ready() -> bool:
            return f" {READY_LINE} " in log.read_text()

        await _until(ready, start_at - time.time() - 0.5, "the relay's ready line")
        while time.time() < start_at - 0.3:  # ready, connected, and idle until the instant
            assert relay.poll() is None, log.read_text()
            assert await delivered() == 0
            await asyncio.sleep(0.05)
        await _until(lambda: _all(delivered, n), 60, "every event delivered")
        # Each mark was made after the instant (the server's clock: the same machine's).
        first = await vconn.fetchval("SELECT extract(epoch FROM min(delivered_at)) FROM outbox")
        assert float(first) >= start_at
        assert await vconn.fetchval("SELECT count(*) FROM outbox WHERE rejected") == 0
    finally:
        if relay is not None:
            _kill(relay)
        _kill(ledger)
        await vconn.close()


async def _progress(delivered, before: int) -> bool:
    return await delivered() > before


async def _all(delivered, n: int) -> bool:
    return await delivered() == n


def test_batch_size_is_bounded_by_the_ledgers_limit():
    from services.voucher import relay as relay_module

    assert relay_module.DEFAULT_BATCH <= relay_module.LEDGER_MAX_BATCH == 5000
    for bad in (0, 5001):
        with pytest.raises(ValueError):
            relay_module.Relay(None, None, batch_size=bad)  # type: ignore[arg-type]
        with pytest.raises(SystemExit):
            relay_module.main(["--batch-size", str(bad), "--once"])
    assert relay_module.Relay(None, None, batch_size=5000).batch_size == 5000  # type: ignore[arg-type]


def test_batch_body_splices_each_outbox_payload_as_it_is():
    """The relay sends the outbox's JSON text unparsed: the ledger reads the same events as
    if each payload had been parsed and serialised again."""
    from services.voucher.relay import _batch_body

    at = datetime(2026, 11, 23, 8, 30, 0, 123456, tzinfo=UTC)
    payloads = [
        {"redemption_id": "r-1", "subsidy_fen": 500, "funding_shares": {"central": 9500}},
        {"reason": '写错了 "x" \\ \n', "n": None, "ok": True, "list": [1, 2]},
    ]
    rows = [
        {
            "id": i,
            "event_id": str(uuid.uuid4()),  # the claim's uuid::text
            "type": t,
            "occurred_at": at,
            "payload": orjson.dumps(p).decode().replace(",", ", "),
        }  # jsonb::text spacing
        for i, (t, p) in enumerate(
            zip(("redemption.created", "redemption.voided"), payloads, strict=True)
        )
    ]
    assert orjson.loads(_batch_body(rows)) == {
        "events": [
            {
                "event_id": r["event_id"],
                "type": r["type"],
                "occurred_at": at.isoformat(),
                "payload": p,
            }
            for r, p in zip(rows, payloads, strict=True)
        ]
    }


def test_batch_body_writes_each_instant_as_isoformat_did():
    """The body is one orjson call (the payload a Fragment, `occurred_at` a datetime): byte
    for byte the body the relay wrote before by hand, `isoformat()` for each instant (whole
    seconds, a single microsecond, the last one of a day; as asyncpg gives timestamptz, in
    UTC)."""
    from services.voucher.relay import _batch_body

    rng = random.Random(19)
    instants = [
        datetime(2026, 11, 23, 8, 30, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 8, 30, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1999, 1, 1, tzinfo=UTC),
    ] + [
        datetime.fromtimestamp(rng.uniform(0, 4e9), tz=UTC).replace(
            microsecond=rng.choice([0, rng.randrange(1_000_000)])
        )
        for _ in range(500)
    ]
    rows = [
        {
            "id": i,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "type": "redemption.voided" if i % 3 else "redemption.created",
            "occurred_at": at,
            "payload": orjson.dumps({"reason": '写错了 "x"', "n": i}).decode().replace(",", ", "),
        }
        for i, at in enumerate(instants)
    ]
    by_hand = (
        b'{"events":['
        + b",".join(
            b'{"event_id":"%s","type":%s,"occurred_at":%s,"payload":%s}'
            % (
                r["event_id"].encode(),
                orjson.dumps(r["type"]),
                orjson.dumps(r["occurred_at"].isoformat()),
                r["payload"].encode(),
            )
            for r in rows
        )
        + b"]}"
    )
    assert _batch_body(rows) == by_hand


@asynccontextmanager
async def funded_ledger(world, make_db, tokens):
    """A ledger of its own, funded, served in-process; a terminal, and a beneficiary who
    holds a voucher."""
    ldb = await make_db("ledger")
    ledger_app = create_ledger_app(LedgerSettings(database_url=ldb.app_url))
    ledger_app.state.voucher_client = world.client  # which programmes exist
    async with running(ledger_app) as lclient:
        await fund(lclient, tokens)
        term = world.add_terminal(world.add_provider())
        ben = await world.add_beneficiary()
        await world.add_voucher(ben)
        yield ldb, ledger_app, lclient, (term, ben)


async def _redeem(world, who) -> httpx.Response:
    term, ben = who
    r = await world.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": 100,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201, r.text
    return r


class Jitter(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(random.uniform(0, 0.03))
        return await self.inner.handle_async_request(request)


async def test_two_relays_at_once_still_deliver_each_void_after_its_redemption(
    world, make_db, tokens
):
    """An operator may start a second relay (a standby, a deploy overlap). Each redemption
    is voided right after it is made, so the outbox alternates redemption, void; with two
    relays taking one event each at the same time, a void reaching the ledger before its
    redemption would be refused for good (UNKNOWN_REDEMPTION). The relays take turns."""
    async with funded_ledger(world, make_db, tokens) as (ldb, ledger_app, _, who):
        term = who[0]
        for _ in range(40):
            r = await _redeem(world, who)
            v = await world.client.post(
                f"/v1/redemptions/{r.json()['id']}/void",
                headers=term.headers,
                json={"reason": "wrong bill"},
            )
            assert v.status_code == 200, v.text
        pool = world.app.state.db.raw_pool
        # A network with jitter between the relays and the ledger (0-30 ms a request).
        jittery = httpx.AsyncClient(
            transport=Jitter(httpx.ASGITransport(app=ledger_app)), base_url="http://ledger"
        )
        relays = [Relay(pool, jittery, batch_size=1) for _ in range(2)]

        async def drain(relay: Relay) -> None:
            while await relay.deliver_once():  # noqa: ASYNC110 - sleep(0) lets the relays interleave
                await asyncio.sleep(0)

        await asyncio.gather(*(drain(r) for r in relays))
        await jittery.aclose()
        assert sum(r.rejected for r in relays) == 0
        assert sum(r.delivered for r in relays) == 80
        assert all(r.delivered for r in relays)  # both took part
        lconn = await asyncpg.connect(ldb.owner_url)
        try:
            assert (
                await lconn.fetchval("SELECT count(*) FROM ledger_event WHERE status = 'applied'")
                == 80
            )
            assert (
                await lconn.fetchval(
                    "SELECT coalesce(sum(balance_fen), 0) FROM account WHERE code = '2201'"
                )
                == 0
            )
        finally:
            await lconn.close()


async def test_an_idle_relay_logs_progress_only_when_something_moved(
    world, make_db, tokens, caplog
):
    async with funded_ledger(world, make_db, tokens) as (_, _, lclient, who):
        await _redeem(world, who)
        relay = Relay(world.app.state.db.raw_pool, lclient)
        stop = asyncio.Event()
        caplog.set_level("INFO", logger="yiyang.relay")
        task = asyncio.create_task(relay.run(idle_s=0.01, stop=stop, progress_s=0.02))
        await asyncio.sleep(0.6)  # about 30 report intervals, all but the first idle
        stop.set()
        await task
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "yiyang.relay" and r.getMessage().startswith("delivered")
    ]
    assert lines == ["delivered 1, rejected 0; undelivered 0, oldest 0.0 s"]
