"""The benchmark's pieces: the pgbench script does the service's real redemption work, the
wrk script parses."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadtests import bench, bench_posting, bench_tools
from scripts.ensure_tools import ensure_wrk
from services.voucher.repository.redemption import REDEEM
from tests.conftest import require_tool
from tests.loadtests.conftest import connect


def test_pgbench_script_binds_every_parameter_of_the_service_statement():
    script = bench_tools.pgbench_script(REDEEM, 100)
    assert "\\set n random(1, 100)" in script
    assert not re.search(r"\$\d", script)
    with pytest.raises(ValueError, match="does not bind"):
        bench_tools.pgbench_script(REDEEM.replace("$6::bigint", "$17::bigint"), 1)


async def test_pgbench_statement_redeems_exactly_like_the_service(seeded_voucher_db):
    """Run the generated statement (pgbench variables filled in) and look at what it did."""
    db, ids = seeded_voucher_db
    script = bench_tools.pgbench_script(REDEEM, len(ids))
    sql = script.split("\n", 2)[2]  # drop the two \\set lines
    conn = await connect(db.owner_url)
    try:
        await conn.execute(bench_tools.BENCH_PICK_SQL)
        before = await conn.fetchval("SELECT sum(balance_fen) FROM voucher")
        for n, nonce in ((1, 11), (2, 12), (1, 13)):
            row = await conn.fetchrow(
                sql.replace(":nonce", str(nonce)).replace(":n", str(n)).rstrip().rstrip(";")
            )
            assert row["subsidy_fen"] == 500 and row["copay_fen"] == 1000
        after = await conn.fetchval("SELECT sum(balance_fen) FROM voucher")
        assert before - after == 1500
        red = await conn.fetch("SELECT id::text FROM redemption ORDER BY created_at")
        ev = await conn.fetch("SELECT payload->>'redemption_id' AS rid FROM outbox")
        assert len(red) == 3 and {r["id"] for r in red} == {e["rid"] for e in ev}
        # one lunch a bill: the redemption is its line (no redemption_item rows)
        assert await conn.fetchval("SELECT count(*) FROM redemption_item") == 0
        lines = await conn.fetch("SELECT service_code, gross_fen FROM redemption")
        assert [tuple(r) for r in lines] == [("MEAL_LUNCH", 1500)] * 3
        assert await conn.fetchval("SELECT count(*) FROM used_nonce") == 3
    finally:
        await conn.close()


class _Recorder:
    """A tiny HTTP server that answers 201 after `latency_s` and records each request."""

    def __init__(self, latency_s: float = 0.0) -> None:
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: list[tuple[str, dict]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.seen.append((self.headers["Authorization"], body))
                if latency_s:
                    time.sleep(latency_s)
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64  # every connection of wrk's accepted at once

            def handle_error(self, request, client_address):
                pass  # wrk drops its connections at the end of the run

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def wrk() -> Path:
    return require_tool(ensure_wrk)


def test_wrk_script_sends_each_token_once_with_the_terminal_secret(wrk, tmp_path):
    """wrk with the Lua script against a tiny recording server: every request carries the
    terminal's secret and the next token; the JSON summary is printed and parsed."""
    server = _Recorder()
    tokens = tmp_path / "t.txt"
    tokens.write_text("\n".join(f"TOKEN{i}" for i in range(100_000)) + "\n")
    try:
        result = bench_tools.run_wrk(
            server.url,
            tokens,
            "yyt_term.secret",
            threads=2,
            connections=2,
            duration_s=1,
            rate_per_s=100,
        )
    finally:
        server.close()
    seen = server.seen
    assert result.requests > 0 and result.non2xx == 0
    assert {auth for auth, _ in seen} == {"Bearer yyt_term.secret"}
    used = [b["token"] for _, b in seen]
    assert len(used) == len(set(used))  # no token twice while the list lasts
    assert {b["service_code"] for _, b in seen} == {"MEAL_LUNCH"}
    assert len({b["idempotency_key"] for _, b in seen}) == len(seen)


def test_wrk_pacing_carries_the_offered_rate_despite_latency(wrk, tmp_path):
    """The schedule, not a pause after each answer, sets the rate: with 4 connections, 200/s
    offered and 15 ms per answer, a fixed pause of connections/rate (20 ms) would carry
    4 / (20 + 15 ms) = 114/s (the old script: 108/s); the schedule carries about the 200/s
    offered. A count of requests over a 2 s run, with margins wide enough for a busy
    machine (the bench itself warns below 95%), not a timing of our code."""
    server = _Recorder(latency_s=0.015)
    tokens = tmp_path / "t.txt"
    tokens.write_text("\n".join(f"TOKEN{i}" for i in range(10_000)) + "\n")
    try:
        result = bench_tools.run_wrk(
            server.url, tokens, "s", threads=2, connections=4, duration_s=2, rate_per_s=200
        )
    finally:
        server.close()
    paced = bench_tools.pacing(200, [result])
    assert paced["carried_share"] >= 0.85, paced
    assert result.offered_per_s <= 200 * 1.1  # the schedule holds it back, too
    assert result.paced >= result.requests - 8  # every request but a connection's first


def test_wrk_counts_the_requests_that_left_late_for_want_of_a_connection(wrk, tmp_path):
    """wrk times a request from its sending, so the wait of a request whose slot came while
    every connection was busy is in no percentile. With 2 connections and 60 ms an answer,
    at most 33/s can leave on time of the 150/s offered: most leave late, by more each
    second, and the script says so; with connections to spare (20) almost none do."""
    tokens = tmp_path / "t.txt"
    tokens.write_text("\n".join(f"TOKEN{i}" for i in range(10_000)) + "\n")
    runs = {}
    for connections in (2, 20):
        server = _Recorder(latency_s=0.06)
        try:
            runs[connections] = bench_tools.run_wrk(
                server.url,
                tokens,
                "s",
                threads=2,
                connections=connections,
                duration_s=2,
                rate_per_s=150,
            )
        finally:
            server.close()
    starved, spare = runs[2], runs[20]
    assert starved.p99_ms < 200  # wrk's own percentiles see only the 60 ms answers
    assert starved.late_share > 0.5 and starved.sent_late_max_ms > 500
    assert spare.late_share < 0.05 and spare.paced > 150, spare


def _ten_seconds(requests: int, non2xx: int) -> bench_tools.WrkResult:
    """A wrk run of 10 s with these counts (its latencies beside the point)."""
    return bench_tools.WrkResult(
        requests=requests,
        seconds=10.0,
        non2xx=non2xx,
        errors=0,
        p50_ms=1,
        p90_ms=1,
        p95_ms=1,
        p99_ms=1,
        max_ms=1,
        wrk_cores=0.1,
    )


def test_pacing_warns_when_carried_falls_short():
    short = _ten_seconds(requests=1500, non2xx=0)
    paced = bench_tools.pacing(200, [short])
    assert paced["carried_per_s"] == 150 and paced["carried_share"] == 0.75
    assert "75%" in paced["warning"]
    text = bench.render(
        {"machine": bench_tools.machine(), "fixed_rate": {"target_per_s": 200, **paced, "runs": []}}
    )
    assert "**Warning** (fixed rate)" in text and "carried 150.0/s (0.75)" in text


def test_top_frames_reads_collapsed_stacks(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("main (a.py:1);redeem (b.py:2) 3\nmain (a.py:1);verify (c.py:9) 1\n")
    top = dict(bench_tools.top_frames(f))
    assert top["main (a.py)"] == 100.0 and top["redeem (b.py)"] == 75.0


def test_render_shows_the_ratio_and_the_machine():
    text = bench.render(
        {
            "machine": bench_tools.machine(),
            "args": {"reps": 3},
            "saturation": {
                "median_accepted_per_s": 300.0,
                "runs": [{"accepted_per_s": x} for x in (290, 300, 310)],
            },
            "direct_sql": {"median_tps": 1000.0, "runs": [{"tps": 1000}]},
            "minimal_sql": {"median_tps": 1200.0, "runs": [{"tps": 1200}], "clients": 32},
            "sustained": {
                "sustained_per_s": 240.0,
                "ratio_to_saturation": 0.8,
                "steps": [
                    {"fraction": 0.8, "sustained": True, "p99_ms_runs": [21.4, 33.0, 48.6]},
                    {"fraction": 0.9, "sustained": False, "p99_ms_runs": [44.0, 61.2, 70.9]},
                ],
                "cpu_at_sustained": {"relay_cpu_ms_per_redemption": 0.05},
                "posting": "idle class",
            },
            "ratio_a_over_b": 0.3,
            "fixed_rate": {
                "target_per_s": 120,
                "median_p50_ms": 5,
                "median_p95_ms": 9,
                "median_p99_ms": 20,
                "runs": [{"p50_ms": 5, "p95_ms": 9, "p99_ms": 20}],
            },
        }
    )
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in text.splitlines()}
    # every rate beside its ratio to the minimal transaction, with the spread of repetitions
    a = rows["(a) POST /v1/redemptions at saturation, accepted/s"]
    assert a[1:4] == ["300.0", "290–310", "0.250"] and "(a)/(b) 0.3" in a[4]
    assert rows["(b) pgbench, our redemption statement, tps"][3] == "0.833"
    s = rows["sustained end-to-end (relay and ledger running), redemptions/s"]
    assert s[1:4] == ["240.0", "80%: ok (p99 21/33/49); 90%: no (p99 44/61/71)", "0.200"]
    assert "relay 0.05" in s[4] and "posting in the idle class" in s[4]
    assert "median of 3" in text and "cores" in text


def _rep(p99_ms: float, bounded: bool = True, **over: float) -> dict[str, Any]:
    return {
        "carried_per_s": 400.0,
        "accepted_per_s": 400.0,
        "carried_share": 1.0,
        "p99_ms": p99_ms,
        "non2xx": 0,
        "errors": 0,
        "bounded": bounded,
        "lag_growth": 10.0,
        "voucher_cpu_ms_per_redemption": 0.4,
    } | over


def test_a_sustained_step_is_judged_by_the_median_of_its_repetitions():
    # one stalled repetition of three does not fail a step; two do
    held = bench.step_verdict([_rep(21.0), _rep(74.0), _rep(30.0)], 50.0)
    assert held["sustained"] is True and held["p99_ms"] == 30.0
    assert held["p99_ms_runs"] == [21.0, 74.0, 30.0]
    assert bench.step_verdict([_rep(21.0), _rep(74.0), _rep(51.0)], 50.0)["sustained"] is False
    # the lag must stay bounded in most repetitions
    one_behind = [_rep(20.0), _rep(20.0, bounded=False), _rep(20.0)]
    assert bench.step_verdict(one_behind, 50.0)["bounded"] is True
    two_behind = [_rep(20.0, bounded=False), _rep(20.0, bounded=False), _rep(20.0)]
    assert bench.step_verdict(two_behind, 50.0)["sustained"] is False
    # any refused redemption or a rate not carried fails it whatever the latency
    assert (
        bench.step_verdict([_rep(9.0), _rep(9.0, non2xx=3), _rep(9.0)], 50.0)["sustained"] is False
    )
    assert (
        bench.step_verdict([_rep(9.0), _rep(9.0, carried_share=0.8), _rep(9.0)], 50.0)["sustained"]
        is False
    )
    # requests that left 50 ms after their slot (1% of them) fail it whatever wrk's p99
    late = [_rep(20.0, sent_late_share=v) for v in (0.0, 0.012, 0.02)]
    assert bench.step_verdict(late, 50.0)["sustained"] is False
    on_time = [_rep(20.0, sent_late_share=v) for v in (0.0, 0.003, 0.02)]
    assert bench.step_verdict(on_time, 50.0)["sustained"] is True
    # rates and CPU are the repetitions' medians
    cpu = [_rep(9.0, voucher_cpu_ms_per_redemption=v) for v in (0.5, 0.3, 0.4)]
    assert bench.step_verdict(cpu, 50.0)["voucher_cpu_ms_per_redemption"] == 0.4
    # and so is how many redemptions shared a commit, over the repetitions that could count
    shared = [_rep(9.0, redemptions_per_commit=v) for v in (1.5, 2.5)] + [_rep(9.0)]
    shared[2]["redemptions_per_commit"] = None  # (the database's statistics not read)
    assert bench.step_verdict(shared, 50.0)["redemptions_per_commit"] == 2.0


def test_posting_runs_in_the_idle_class_with_its_children_and_its_session_group():
    """The sustained run's relays and ledger take only the CPU the endpoint leaves: each
    process and its children in the idle class, and its session's scheduling group at the
    lowest weight (every service process starts its own session)."""
    import subprocess
    import sys

    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '30'])"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not (children := psutil.Process(parent.pid).children()):
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        assert os.sched_getscheduler(parent.pid) == os.SCHED_OTHER
        done = bench.run_idle([parent.pid])
        assert sorted(done) == sorted([parent.pid, children[0].pid])
        for pid in done:
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
            group = Path(f"/proc/{pid}/autogroup")
            if os.access(group, os.W_OK):
                assert group.read_text().split()[-1] == str(bench.IDLE_GROUP_NICENESS)
        # the test's own process (another session) is left as it was
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
    finally:
        parent.kill()
        parent.wait()


def test_lag_is_bounded_when_flat_and_not_when_it_climbs():
    flat = [(float(t), 40 + (t % 3)) for t in range(12)]
    # the relay's batches make a sawtooth (up to 500 behind, then caught up): still bounded
    sawtooth = [(float(t), (t % 4) * 150) for t in range(15)]
    climbing = [(float(t), 100 * t) for t in range(12)]
    assert bench.lag_verdict(flat, 1000)["bounded"] is True
    assert bench.lag_verdict(sawtooth, 600)["bounded"] is True
    verdict = bench.lag_verdict(climbing, 1000)
    assert verdict["bounded"] is False and verdict["lag_growth_per_s"] == 100.0
    assert verdict["lag_growth"] == 800.0  # last third's mean against the first's
    # a flat lag that never drains below a second's worth of events is not bounded either
    assert bench.lag_verdict([(float(t), 5000) for t in range(12)], 1000)["bounded"] is False


async def test_the_yardstick_runs_on_our_server(pg_admin_url):
    """The minimal transaction of ../shared/yardstick loads and runs under pgbench: it
    redeems (balances fall by exactly what was recorded) and writes one outbox row each."""
    from services.common.migrate import drop_database, ensure_database

    directory = bench_tools.yardstick_dir()
    if directory is None:
        pytest.skip("../shared/yardstick is not beside this checkout")
    name = f"yt_yardstick_{uuid.uuid4().hex[:8]}"
    url = await ensure_database(pg_admin_url, name)
    try:
        bench_tools.load_yardstick(url, directory)
        result = bench_tools.run_pgbench(
            url, directory / "redeem.pgbench", clients=2, threads=1, duration_s=1
        )
        assert result.tps > 0 and result.transactions > 0
        conn = await connect(url)
        try:
            spent = await conn.fetchval("SELECT sum(initial_balance - balance) FROM voucher")
            recorded = await conn.fetchval("SELECT sum(amount) FROM redemption")
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM redemption) AS r, (SELECT count(*) FROM outbox) AS o"
            )
        finally:
            await conn.close()
        assert spent == recorded > 0 and counts["r"] == counts["o"]
    finally:
        await drop_database(pg_admin_url, name)


def test_render_shows_the_drain_against_saturation_and_cpu_per_event_by_process():
    cpu = bench.sum_relays({"ledger_cores": 0.4, "relay1_cores": 0.02, "relay2_cores": 0.03})
    assert cpu == {"ledger_cores": 0.4, "relay_cores": 0.05}
    text = bench.render(
        {
            "machine": bench_tools.machine(),
            "args": {"reps": 3, "books": 4},
            "saturation": {
                "median_accepted_per_s": 2000.0,
                "median_voucher_cpu_ms_per_redemption": 0.5,
            },
            "minimal_sql": {"median_tps": 8000.0},
            "ledger_posting": {
                "events_per_s": 3200.0,
                "steady_events_per_s": 3300.0,
                "ratio_to_saturation": 1.6,
                "relay_workers": 3,
                "initial": 60000,
                "ledger_cpu_ms_per_event": 0.15,
                "relay_cpu_ms_per_event": 0.02,
                "postgres_cpu_ms_per_event": 0.25,
            },
        }
    )
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in text.splitlines()}
    drain = rows["ledger posting alone (3 relay workers draining the backlog of 4 books), events/s"]
    assert drain[1] == "3200.0" and "1.6 of (a), goal >= 1.5" in drain[4]
    by_process = rows[
        "CPU ms per event: voucher (at saturation) / ledger / relay / PostgreSQL (posting)"
    ]
    assert by_process[1] == "0.5 / 0.15 / 0.02 / 0.25"


async def test_the_cpu_meter_names_each_server_process_by_its_database_or_kind(pg_admin_url):
    """The drain's PostgreSQL CPU is split by kind of server process: a client's backend is
    named by its database, the server's own processes by what they do."""
    import psutil

    from services.common.migrate import drop_database, ensure_database

    name = f"yt_kinds_{uuid.uuid4().hex[:8]}"
    url = await ensure_database(pg_admin_url, name)
    try:
        conn = await connect(url)
        try:
            backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
            assert bench_tools.pg_process_kind(backend) == f"db:{name}"
            server = backend.parent()
            kinds = {bench_tools.pg_process_kind(p) for p in server.children()}
            assert bench_tools.pg_process_kind(server) == "postmaster"
            assert {"checkpointer", "walwriter", f"db:{name}"} <= kinds
            meter = bench_tools.CpuMeter({"postgres": server.pid})
            meter.start()
            await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")
            meter.stop()
            assert meter.postgres_by_kind.get(f"db:{name}", 0) > 0
            # with the server's activity at hand, a backend is named by who asked too
            await conn.execute("SET application_name = 'yiyang-relay'")
            named = bench_tools.CpuMeter({"postgres": server.pid}, pg_url=url)
            named.start()
            await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")
            await asyncio.to_thread(named.stop)
            assert named.postgres_by_kind.get(f"db:{name}/yiyang-relay", 0) > 0
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_url, name)


def test_the_posting_cost_shows_the_index_entries_ledger_1301_saves(pg_admin_url):
    """`bench posting --cost` posts real redemption events at the head and at ledger_0801
    (before posting's indexes were trimmed) and reports what each costs: the same rows
    written on both sides, and at the head fewer btree index entries for them."""
    # (600 events: enough server CPU to read in clock ticks, 10 ms each, on a busy machine)
    out = bench_posting.cost(pg_admin_url, 600, 50, 1, "ledger_0801", own=False, providers=50)
    head, before = out["head"], out["ledger_0801"]
    for t in ("posting", "entry", "ledger_event"):  # the same rows written on both sides
        assert head[f"{t}_rows_per_event"] == before[f"{t}_rows_per_event"] > 0
    assert head["ledger_event_rows_per_event"] == 1.0
    assert (head["posting_btrees"], head["entry_btrees"], head["ledger_event_btrees"]) == (4, 10, 2)
    assert (before["posting_btrees"], before["entry_btrees"], before["ledger_event_btrees"]) == (
        9,
        6,
        3,
    )
    # the entries really written: at the head every posting index and every event index; on
    # each redemption's entry (one an event) all but the two partial ones it does not match
    # (a reversal's, uq_entry_reverses_entry_id; a cash benefit's month,
    # ix_entry_cash_benefit_month); on the few other entries a batch writes, the five
    # whole-table ones only
    postings, entries = head["posting_rows_per_event"], head["entry_rows_per_event"]
    written = 4 * postings + (10 - 2) * 1.0 + 5 * (entries - 1.0) + 2 * 1.0
    assert abs(head["btree_entries_per_event"] - written) < 0.02, (list(head.items()), written)
    # ledger_1301 moved the dimension indexes from each posting to each entry: fewer in all
    assert before["btree_entries_per_event"] - head["btree_entries_per_event"] > 5
    assert head["server_cpu_ms_per_event"] > 0 and head["wal_bytes_per_event"] > 0


def test_the_sustained_run_keeps_only_the_relays_asked_for(tmp_path):
    """`--sustained-relay-workers 1`: the drain's other relay processes are stopped and
    leave the system's list (the CPU meter and `relay_pids` then see only the one left);
    every other process runs on."""
    from loadtests.harness import Process, System

    system = System(run_dir=tmp_path)
    for name in ("voucher", "relay1", "relay2", "relay3"):
        proc = Process(name, ["sleep", "60"], {}, tmp_path / f"{name}.log")
        proc.start()
        system.processes.append(proc)
    try:
        relays = {p.name: p for p in system.processes}
        assert bench.keep_relays(system, 1) == ["relay2", "relay3"]
        assert [p.name for p in system.processes] == ["voucher", "relay1"]
        assert list(bench.relay_pids(system)) == ["relay1"]
        assert relays["voucher"].alive() and relays["relay1"].alive()
        assert not relays["relay2"].alive() and not relays["relay3"].alive()
        assert bench.keep_relays(system, 1) == []  # nothing more to stop
    finally:
        for proc in system.processes:
            proc.stop()


def test_redemptions_a_commit_is_the_accepted_over_the_commits_counted():
    run = _ten_seconds(requests=1_000, non2xx=100)
    assert bench.redemptions_per_commit(run, 10, 300) == 3.0  # 900 accepted, 300 commits
    assert bench.redemptions_per_commit(run, 10, 0) is None  # nothing counted
