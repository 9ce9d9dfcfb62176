"""`yiyang bench`: the redemption hot path measured against the database's own limit.

    yiyang bench [--reps 3] [--duration 10] [--connections 32] [--beneficiaries 20000]
                 [--issuance 100000] [--profile] [--database-url ADMIN_URL]
    yiyang bench posting [--duration 5] [--reps 3]   (ledger books: loadtests/bench_posting.py)
    yiyang bench cold [--entries N] [--redemptions N] (cold paths: loadtests/bench_cold.py)
    yiyang bench dashboard [--beneficiaries N] [--redemptions M]   (loadtests/bench_dashboard.py)

In one run, on one machine, with one freshly started system (harness.System):

(a) POST /v1/redemptions under wrk (Lua script cycling QR codes minted beforehand with the
    service's key): throughput at saturation (accepted redemptions/s), then p50/p95/p99 at a
    fixed offered rate of 40% of it;
(b) the same database work driven by pgbench: the service's own redemption statement
    (services/voucher/repository/redemption.py, REDEEM) with its parameters bound by pgbench,
    one statement per transaction, durable commits, on the same database;
and the ratio (a)/(b), each the median of --reps repetitions, interleaved so that drift hits
both alike. Then the ledger's posting throughput (the relay draining the backlog the run
left), and an issuance run of --issuance vouchers. Results go to reports/bench-*/bench.json and
bench.md; docs/performance.md holds the reference results and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from loadtests import bench_tools as bt
from loadtests import check, seed
from loadtests.harness import Process, System, new_run_dir, say
from services.common.auth import Role, issue_token
from services.common.db import asyncpg_connect_kwargs
from services.common.money import allocate
from services.common.settings import get_common_settings
from services.voucher.relay import READY_LINE


async def _sql(url: str, script: str) -> None:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        await conn.execute(script)
    finally:
        await conn.close()


def transactions_written(url: str) -> int:
    """How many transactions that wrote have been given an id in the database's cluster so
    far (the next id to give): the difference of two readings is the commits made between
    them that wrote something, read at once. The statistics' commit counts would lag by up to
    ten seconds, the time an idle backend may keep its counts before reporting them. Every
    database of the cluster draws from the one counter."""
    row = asyncio.run(
        _fetchrow(url, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next")
    )
    return int(row["next"])


def redemptions_per_commit(r: bt.WrkResult, duration_s: float, commits: int) -> float | None:
    """The redemptions a run accepted over the commits counted meanwhile
    (`transactions_written`), or None when there is nothing to divide."""
    if commits <= 0 or not r.accepted_per_s:
        return None
    return round(r.accepted_per_s * duration_s / commits, 2)


async def _fetchrow(url: str, query: str, *args: Any) -> dict[str, Any]:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        row = await conn.fetchrow(query, *args)
        return dict(row) if row else {}
    finally:
        await conn.close()


def wait_directory(voucher_url: str, timeout_s: float = 30) -> None:
    """Until the voucher service has loaded the provider directory (it polls every second)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            d = httpx.get(f"{voucher_url}/readyz", timeout=5).json()["checks"]["directory"]
            if d.get("loaded") and d.get("version", 0) > 0:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError("the voucher service did not load the provider directory")


def tokens_file(path: Path, beneficiaries: list[str], count: int) -> Path:
    path.write_text("\n".join(bt.mint_tokens(beneficiaries, count)) + "\n")
    return path


# The budget regions of the bench's vouchers, one district of each of these cities: the ledger's
# book of an event is its budget region's city (services/ledger/service/books.py), so `--books
# N` spreads the postings over the first N books and the relay's partitions with them.
BENCH_BUDGET_REGIONS = ("450103", "450203", "450303", "450403", "450503", "450603")


def start_relays(system: System, workers: int, start_at: float | None = None) -> list[Process]:
    """`workers` relay processes sharing the outbox's partitions (services/voucher/relay.py:
    one lease per book), started together; with `start_at` (time.time()), each starts up,
    logs that it is ready and delivers nothing before that instant (`--start-at`)."""
    import sys

    procs = []
    later = ["--start-at", f"{start_at:.3f}"] if start_at is not None else []
    for n in range(1, workers + 1):
        proc = Process(
            f"relay{n}",
            [sys.executable, "-m", "services.cli", "relay", *later],
            system._common_env(),
            system.run_dir / "logs" / f"relay{n}.log",
        )
        proc.start()
        system.processes.append(proc)
        procs.append(proc)
    return procs


def keep_relays(system: System, workers: int, wait_s: float = 0.0) -> list[str]:
    """Stop all but the first `workers` relay processes (to measure the sustained run with
    fewer posting streams than the drain), then wait `wait_s` for the leases of the
    partitions they held to run out, so the ones left take them over. Returns the names
    stopped."""
    relays = [p for p in system.processes if p.name.startswith("relay")]
    stopped = []
    for proc in relays[workers:]:
        proc.stop()
        system.processes.remove(proc)
        stopped.append(proc.name)
    if stopped:
        time.sleep(wait_s)
    return stopped


def relay_pids(system: System) -> dict[str, int | None]:
    return {p.name: p.pid for p in system.processes if p.name.startswith("relay")}


def sum_relays(cpu: dict[str, float]) -> dict[str, float]:
    """The relay workers' CPU readings (`relay1_cores`, ...) as one `relay_cores`."""
    relays = [k for k in cpu if k.startswith("relay")]
    out = {k: v for k, v in cpu.items() if k not in relays}
    if relays:
        out["relay_cores"] = round(sum(cpu[k] for k in relays), 2)
    return out


# A relay's start-up (importing the app, ~0.9 s of CPU; connecting) is no part of posting:
# the relays are started this long before the drain's instant, and metered from it.
RELAY_LEAD_S = 5.0
RELAY_READY_LINE = f" {READY_LINE} ".encode()


def relay_drain(
    system: System,
    profile_dir: Path | None = None,
    *,
    workers: int = 1,
    lead_s: float = RELAY_LEAD_S,
) -> dict[str, Any]:
    """Start `workers` relay processes on the backlog the run left and time how fast they
    drain it (each book is one partition: with several books, several workers post at once).

    The relays are started `lead_s` ahead of one start instant (`--start-at`): they import,
    connect and log that they are ready, then wait for it. The CPU meter and the drain's
    clock start at that instant, so the CPU used by the ledger service, the relays (summed)
    and the PostgreSQL server (both databases), reported per event, is the drain's alone,
    without the relays' start-up; a relay not ready by the instant is named in the result
    (`relays_late`: its remaining start-up is then counted). With `profile_dir`, py-spy
    samples the ledger and the first relay from the instant to the end of the drain
    (`ledger.collapsed`, `relay.collapsed`).
    """
    ledger_pid = system.process("ledger").pid
    pg = bt.postmaster_pid(system.run_dir / "pg") if system.admin_url is None else None
    start_at = time.time() + lead_s
    procs = start_relays(system, workers, start_at)
    meter = bt.CpuMeter(
        {"ledger": ledger_pid, **relay_pids(system), "postgres": pg},
        pg_url=system.owner_urls["voucher"],
    )
    initial = asyncio.run(check.outbox_lag(system.owner_urls["voucher"]))[0]
    time.sleep(max(0.0, start_at - time.time()))
    meter.start()
    late = [p.name for p in procs if RELAY_READY_LINE not in p.log_path.read_bytes()]
    spies = {}
    if profile_dir is not None:
        spies["ledger"] = bt.py_spy_record(ledger_pid, profile_dir, None, name="ledger")
        spies["relay"] = bt.py_spy_record(procs[0].pid, profile_dir, None, name="relay")
    if late:
        say(f"WARNING: relay(s) {', '.join(late)} not ready {lead_s:.0f} s after their start")
    say(f"{workers} relay worker(s) delivering the backlog from the start instant")
    result = check.wait_for_drain(
        system.owner_urls["voucher"], timeout_s=300, stall_s=30, initial=initial
    )
    cpu = sum_relays(meter.stop())
    drained = result["initial"] - result["remaining"]
    if drained:
        # CPU ms per event of each process, from the start instant (the relays' start-up is
        # before it, unless `relays_late` names them)
        cpu.update(
            {
                f"{k.removesuffix('_cores')}_cpu_ms_per_event": round(
                    1000 * v * result["seconds"] / drained, 3
                )
                for k, v in list(cpu.items())
            }
        )
    out: dict[str, Any] = {
        "mode": "relay",
        "relay_workers": workers,
        "relays_late": late,
        **result,
        **cpu,
    }
    if drained:
        # where PostgreSQL's CPU went: each database's clients, autovacuum, the WAL writer...
        out["postgres_cpu_ms_per_event_by_kind"] = {
            k: round(1000 * v / drained, 3) for k, v in meter.postgres_by_kind.items()
        }
    if profile_dir is not None:
        profiles: dict[str, Any] = {}
        for name, spy in spies.items():
            if spy is None:
                profiles[name] = {"skipped": "py-spy not installed (pip install py-spy)"}
                continue
            bt.py_spy_stop(spy)
            collapsed = profile_dir / f"{name}.collapsed"
            profiles[name] = {
                "file": str(collapsed),
                "top_inclusive_pct": bt.top_frames(collapsed) if collapsed.exists() else [],
            }
        out["profile"] = profiles
    return out


def issuance_run(system: System, count: int, region_code: str = "450105") -> dict[str, Any]:
    """Time POST /v1/issuance-runs over `count` eligible people.

    The people are bulk-seeded without vouchers in a region of their own, and the ledger is
    given the budget (an appropriation covering the largest face for everyone); the run
    itself then does all issuance does: eligibility, budget commitments by chunk, vouchers.
    """
    say(f"issuance: seeding {count} beneficiaries (no vouchers) in {region_code}")
    asyncio.run(
        seed.seed_beneficiaries(
            system.owner_urls["voucher"],
            count,
            region_code=region_code,
            plans=[],
            progress=seed._bar("beneficiaries"),
        )
    )
    key = get_common_settings().auth_private_key
    finance = {
        "Authorization": "Bearer "
        + issue_token(key, role=Role.finance, region="450000", name="bench")
    }
    officer = {
        "Authorization": "Bearer "
        + issue_token(key, role=Role.civil_affairs, region="450000", name="bench")
    }
    total = count * 80_000  # the largest monthly face (institution care)
    sources = sorted(seed.FUNDING)
    parts = dict(zip(sources, allocate(total, [seed.FUNDING[k] for k in sources])))
    a = httpx.post(
        f"{system.urls['ledger']}/v1/appropriations",
        headers=finance,
        timeout=60,
        json={
            "idempotency_key": f"bench-issuance-{time.time_ns()}",
            "program_code": "disability_subsidy",
            "region_code": region_code,
            "by_source": parts,
            "memo": "benchmark issuance",
        },
    )
    if a.status_code != 201:
        return {"error": f"appropriation refused: {a.status_code} {a.text[:300]}"}
    period = seed.current_period()
    say(f"issuance: POST /v1/issuance-runs for {count} people")
    started = time.monotonic()
    r = httpx.post(
        f"{system.urls['voucher']}/v1/issuance-runs",
        headers=officer,
        timeout=900,
        json={"program_code": "disability_subsidy", "period": period, "region_code": region_code},
    )
    elapsed = time.monotonic() - started
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    return {
        "status": r.status_code,
        "seconds": round(elapsed, 2),
        "issued": body.get("issued"),
        "skipped": body.get("skipped"),
        "failed": body.get("failed"),
        "eligible": body.get("eligible"),
        "vouchers_per_s": round((body.get("issued") or 0) / elapsed, 1),
        "answer": None if r.status_code in (200, 201) else r.text[:500],
    }


class LagSampler:
    """The outbox's undelivered events, read once a second in a thread while a run goes on."""

    def __init__(self, voucher_db: str, every_s: float = 1.0) -> None:
        import threading

        self.voucher_db, self.every_s = voucher_db, every_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._poll()), daemon=True)

    async def _poll(self) -> None:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(self.voucher_db))
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                pending = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"  # (its partial index)
                )
                self.samples.append((time.monotonic() - t0, int(pending)))
                await asyncio.sleep(self.every_s)
        finally:
            await conn.close()

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# The niceness of a session's scheduling group (autogroup) that runs only on CPU the others
# leave: the kernel's lowest (nice 19, a weight of 15 against 1024).
IDLE_GROUP_NICENESS = 19


def run_idle(pids: list[int]) -> list[int]:
    """Run these processes and their children in the idle scheduling class, as infra/systemd
    runs the relay and the ledger beside the endpoint (`CPUWeight=idle`,
    `CPUSchedulingPolicy=idle`): they take only the CPU the endpoint leaves, and a redemption
    waking up preempts them at once. Every service process is its own session, and Linux
    ranks a session's group (autogroup) before its processes, so the group's niceness is set
    too (/proc/PID/autogroup; the bench's stand-in for the unit's idle cgroup). Returns the
    processes changed."""
    done = []
    for pid in pids:
        for proc in bt.process_tree(pid):
            # (no autogroups in this kernel, or /proc read-only: the class alone then)
            with contextlib.suppress(FileNotFoundError, PermissionError):
                Path(f"/proc/{proc.pid}/autogroup").write_text(str(IDLE_GROUP_NICENESS))
            os.sched_setscheduler(proc.pid, os.SCHED_IDLE, os.sched_param(0))
            done.append(proc.pid)
    return done


def lag_verdict(samples: list[tuple[float, int]], rate_per_s: float) -> dict[str, Any]:
    """Is the outbox lag bounded over a run? The relay takes events in batches (up to 500),
    so the lag is a sawtooth and its slope over a few seconds says little. Bounded: the mean
    lag of the run's last third exceeds that of its first third by less than half a second's
    worth of events or one batch (whichever is more), and the run ends less than a second's
    worth (or a batch) behind. A ledger that cannot keep up falls behind by the difference of
    the two rates every second, which over a 15 s step shows plainly once it is 5-10%."""
    if len(samples) < 6:
        return {"bounded": False, "why": "too few lag samples"}
    third = len(samples) // 3
    first = sum(n for _, n in samples[:third]) / third
    last = sum(n for _, n in samples[-third:]) / third
    final = samples[-1][1]
    batch = 500.0
    bounded = last - first < max(0.5 * rate_per_s, batch) and final <= max(rate_per_s, batch)
    return {
        "bounded": bounded,
        "lag_growth": round(last - first, 1),
        "lag_growth_per_s": round(bt.slope(samples[len(samples) // 2 :]), 1),
        "lag_final": final,
        "lag_max": max(n for _, n in samples),
    }


def step_verdict(runs: list[dict[str, Any]], p99_limit_ms: float) -> dict[str, Any]:
    """One step of the sustained run from its repetitions: it holds when the median p99 is
    under `p99_limit_ms`, the lag stayed bounded in most repetitions, and every repetition
    carried the offered rate with no error. A single 15 s p99 on a shared machine swings by
    a factor of two or three from run to run (one stall of 100 ms in it is enough), so no
    one run decides. Rates and CPU per redemption are the repetitions' medians. wrk's p99
    leaves out a request's wait for a free connection, so a step whose median repetition
    sent 1% or more of its requests 50 ms or more after their slot does not hold either:
    timed from the schedule, its p99 is at least that (`WrkResult.late_share`)."""
    p99s = [x["p99_ms"] for x in runs]
    late = bt.median([x.get("sent_late_share", 0.0) for x in runs])
    bounded = sum(1 for x in runs if x["bounded"]) * 2 > len(runs)
    carried_ok = all(x["carried_share"] >= bt.CARRIED_MIN_SHARE for x in runs)
    clean = all(x["non2xx"] == 0 and x["errors"] == 0 for x in runs)
    p99 = bt.median(p99s)
    medians = {
        k: round(bt.median(values), 3)
        for k in runs[0]
        if k.endswith(("_per_redemption", "_cores", "_per_s", "_per_commit"))
        if (values := [x[k] for x in runs if x.get(k) is not None])
    }
    return {
        **medians,
        "p99_ms": round(p99, 2),
        "p99_ms_runs": p99s,
        "sent_late_share": late,
        "bounded": bounded,
        "lag_growth_runs": [x.get("lag_growth") for x in runs],
        "non2xx": sum(x["non2xx"] for x in runs),
        "errors": sum(x["errors"] for x in runs),
        "sustained": bounded and p99 < p99_limit_ms and late < 0.01 and carried_ok and clean,
    }


def sustained_run(
    system: System,
    *,
    ids: list[str],
    secret: str,
    wrk: str,
    saturation_per_s: float,
    duration_s: int,
    threads: int,
    connections: int = 64,
    steps: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    reps: int = 3,
    p99_limit_ms: float = 50.0,
    posting_idle: bool = True,
) -> dict[str, Any]:
    """Redemptions at fixed offered rates with the relay and the ledger running, stepping up
    through `steps` (fractions of the endpoint-only saturation rate), each `reps` times; the
    *sustained end-to-end rate* is the highest step that holds (`step_verdict`: the outbox
    lag bounded, the median p99 under `p99_limit_ms`). Every repetition starts with an empty
    outbox (the previous one's backlog is drained first) and reports the CPU per redemption
    of every process (endpoint, relay, ledger, PostgreSQL). With `posting_idle`, the relays
    and the ledger run in the idle scheduling class (`run_idle`), as deployed beside the
    endpoint."""
    voucher_url, voucher_db = system.urls["voucher"], system.owner_urls["voucher"]
    meter = bt.CpuMeter(
        {
            "voucher": system.process("voucher").pid,
            **relay_pids(system),
            "ledger": system.process("ledger").pid,
            "postgres": bt.postmaster_pid(system.run_dir / "pg")
            if system.admin_url is None
            else None,
        }
    )

    def once(rate: float) -> dict[str, Any]:
        check.wait_for_drain(voucher_db, timeout_s=300, stall_s=30)
        tf = tokens_file(system.run_dir / "tokens.txt", ids, int(rate * duration_s * 1.3) + 500)
        commits = transactions_written(voucher_db)
        meter.start()
        with LagSampler(voucher_db) as lag:
            r = bt.run_wrk(
                voucher_url,
                tf,
                secret,
                threads=threads,
                connections=connections,
                duration_s=duration_s,
                rate_per_s=rate,
                wrk=wrk,
            )
        cpu = sum_relays(meter.stop())
        # The commits counted include posting's (the relays' claims and marks, the ledger's
        # batches, in the same cluster here): a lower bound on the redemptions sharing one.
        commits = transactions_written(voucher_db) - commits
        return {
            "redemptions_per_commit": redemptions_per_commit(r, duration_s, commits),
            "carried_per_s": round(r.offered_per_s, 1),
            "accepted_per_s": round(r.accepted_per_s, 1),
            "carried_share": r.offered_per_s / rate if rate else 0.0,
            "p99_ms": round(r.p99_ms, 2),
            "sent_late_share": round(r.late_share, 4),
            "sent_late_max_ms": round(r.sent_late_max_ms, 1),
            "non2xx": r.non2xx,
            "errors": r.errors,
            **lag_verdict(lag.samples, rate),
            **cpu,
            **{
                f"{k.removesuffix('_cores')}_cpu_ms_per_redemption": round(
                    1000 * v / r.accepted_per_s, 3
                )
                for k, v in cpu.items()
                if r.accepted_per_s
            },
        }

    if posting_idle:
        run_idle([system.process("ledger").pid, *(p for p in relay_pids(system).values() if p)])
    steps_out: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for fraction in steps:
        rate = fraction * saturation_per_s
        runs = []
        for rep in range(1, reps + 1):
            runs.append(once(rate))
            x = runs[-1]
            say(
                f"sustained {fraction:.0%} ({rate:,.0f}/s offered), {rep}/{reps}: carried "
                f"{x['carried_per_s']:,.0f}/s, p99 {x['p99_ms']:.1f} ms, "
                f"{x['sent_late_share']:.1%} sent 50 ms late, "
                f"{x['redemptions_per_commit']} a commit, lag growth "
                f"{x.get('lag_growth')} (first to last third), final {x.get('lag_final')}"
            )
        step = {"fraction": fraction, "offered_per_s": round(rate, 1)}
        step |= step_verdict(runs, p99_limit_ms) | {"runs": runs}
        steps_out.append(step)
        say(
            f"sustained {fraction:.0%}: median p99 {step['p99_ms']:.1f} ms of "
            f"{step['p99_ms_runs']}, lag bounded: {step['bounded']} -> "
            f"{'holds' if step['sustained'] else 'does not hold'}"
        )
        if not step["sustained"]:
            break
        best = step
    check.wait_for_drain(voucher_db, timeout_s=300, stall_s=30)
    rate_ok = best["accepted_per_s"] if best else 0.0
    return {
        "steps": steps_out,
        "reps": reps,
        "sustained_per_s": rate_ok,
        "ratio_to_saturation": round(rate_ok / saturation_per_s, 3) if saturation_per_s else None,
        "cpu_at_sustained": {
            k: v for k, v in (best or {}).items() if k.endswith("_per_redemption")
        },
        "p99_limit_ms": p99_limit_ms,
        "posting": "idle class" if posting_idle else "normal class",
    }


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "cold":  # `yiyang bench cold`: the ledger's cold paths at scale
        from loadtests import bench_cold

        return bench_cold.main(argv[1:])
    if argv and argv[0] == "posting":  # `yiyang bench posting`: 4 books against one
        from loadtests import bench_posting

        return bench_posting.main(argv[1:])
    if argv and argv[0] == "dashboard":  # `yiyang bench dashboard`: provincial scale
        from loadtests import bench_dashboard

        return bench_dashboard.main(argv[1:])
    p = argparse.ArgumentParser(
        prog="yiyang bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pgbench-clients", type=int, default=16)
    p.add_argument(
        "--yardstick-clients",
        type=int,
        default=32,
        help="pgbench clients for the minimal transaction (its README's setting)",
    )
    p.add_argument(
        "--sustained",
        default="0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0",
        help="offered rates of the sustained end-to-end run, as fractions of the saturation "
        "rate ('' to skip)",
    )
    p.add_argument(
        "--sustained-connections",
        type=int,
        default=64,
        help="wrk's connections in the sustained run: enough that a request seldom waits "
        "in wrk for one (with 32, up to 8%% left 50 ms late at 60%% of saturation)",
    )
    p.add_argument(
        "--sustained-relay-workers",
        type=int,
        default=0,
        help="relay processes in the sustained run, if fewer than --relay-workers (0: all "
        "of them; docs/performance.md, 'The sustained rate with redemptions together')",
    )
    p.add_argument(
        "--posting",
        choices=("idle", "normal"),
        default="idle",
        help="the scheduling class of the relays and the ledger in the sustained run: idle, "
        "as infra/systemd deploys them beside the endpoint, or normal (the endpoint's)",
    )
    p.add_argument("--fixed-fraction", type=float, default=0.4)
    p.add_argument("--beneficiaries", type=int, default=20_000)
    p.add_argument(
        "--books",
        type=int,
        default=4,
        choices=range(1, len(BENCH_BUDGET_REGIONS) + 1),
        metavar=f"1..{len(BENCH_BUDGET_REGIONS)}",
        help="ledger books the redemptions are posted in (their vouchers' budget regions, one "
        "city each; everyone redeems in one district)",
    )
    p.add_argument(
        "--relay-workers",
        type=int,
        default=3,
        help="relay processes sharing the books (partitions) in the drain and the sustained run",
    )
    p.add_argument("--issuance", type=int, default=100_000, help="0 to skip")
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="uvicorn workers of the voucher "
        "service (2: one per core, as it would be deployed on this 2-core machine)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the voucher service during one extra saturation run",
    )
    p.add_argument("--database-url", default=os.environ.get("YIYANG_LOAD_DATABASE_URL"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument(
        "--keep-databases",
        action="store_true",
        help="keep the run's database files (embedded) or databases (server)",
    )
    args = p.parse_args(argv)

    wrk = bt.ensure_wrk(say)
    yardstick = bt.yardstick_dir()
    if yardstick is None:
        say(
            f"the yardstick (../shared/yardstick, or ${bt.YARDSTICK_ENV}) is not here: "
            "the ratios to the minimal transaction cannot be reported"
        )
        return 2
    run_dir = new_run_dir(args.reports, "bench").resolve()
    result: dict[str, Any] = {
        "machine": bt.machine(),
        "args": vars(args) | {"reports": str(args.reports)},
    }
    say(f"benchmark run in {run_dir}; machine {result['machine']}")
    with System(
        run_dir,
        admin_url=args.database_url,
        with_relay=False,
        workers=args.workers,
        keep_databases=args.keep_databases,
    ) as system:
        voucher_url, voucher_db = system.urls["voucher"], system.owner_urls["voucher"]
        seeded = seed.seed_all(
            voucher_db,
            system.urls["provider"],
            beneficiaries=args.beneficiaries,
            providers=2,
            terminals_per_provider=2,
            manifest=run_dir / "seed-manifest.json",
            generous=True,
            ledger_url=system.urls["ledger"],
            budget_regions=BENCH_BUDGET_REGIONS[: args.books],
        )
        wait_directory(voucher_url)
        secret = next(t["secret"] for t in seeded["terminals"] if t["kind"] == "meal_point")
        ids = seeded["beneficiaries"]
        result["postgres"] = asyncio.run(
            _fetchrow(
                voucher_db,
                "SELECT version() AS version, current_setting('fsync') AS fsync, "
                "current_setting('synchronous_commit') AS synchronous_commit, "
                "current_setting('shared_buffers') AS shared_buffers, "
                "current_setting('max_connections') AS max_connections",
            )
        )
        say(f"PostgreSQL: {result['postgres']}")

        from services.voucher.repository.redemption import REDEEM

        script = run_dir / "redeem.pgbench.sql"
        script.write_text(bt.pgbench_script(REDEEM, len(ids)))
        asyncio.run(_sql(voucher_db, bt.BENCH_PICK_SQL))
        say(f"the minimal transaction: loading {yardstick / 'schema.sql'}")
        minimal_db = asyncio.run(system.extra_database("yardstick"))
        bt.load_yardstick(minimal_db, yardstick)

        meter = bt.CpuMeter(
            {
                "voucher": system.process("voucher").pid,
                "postgres": bt.postmaster_pid(run_dir / "pg")
                if args.database_url is None
                else None,
            }
        )

        say("warm-up: 3 s of wrk")
        warm = bt.run_wrk(
            voucher_url,
            tokens_file(run_dir / "tokens.txt", ids, 20_000),
            secret,
            threads=args.threads,
            connections=args.connections,
            duration_s=3,
            wrk=wrk,
        )
        estimate = max(warm.offered_per_s, 200)
        say(f"warm-up: {warm.accepted_per_s:.0f} accepted/s")

        saturation, direct, minimal = [], [], []
        for rep in range(1, args.reps + 1):
            n_tokens = int(estimate * args.duration * 1.6) + 2000
            tf = tokens_file(run_dir / "tokens.txt", ids, n_tokens)
            commits = transactions_written(voucher_db)
            meter.start()
            r = bt.run_wrk(
                voucher_url,
                tf,
                secret,
                threads=args.threads,
                connections=args.connections,
                duration_s=args.duration,
                wrk=wrk,
            )
            cpu = meter.stop()
            shared = redemptions_per_commit(
                r, args.duration, transactions_written(voucher_db) - commits
            )
            if shared is not None:
                # Redemptions waiting for a connection commit together (statement_pool.py).
                cpu["redemptions_per_commit"] = shared
            if cpu.get("voucher_cores") and r.accepted_per_s:
                # The steadier reading on a shared machine: service CPU per redemption.
                cpu["voucher_cpu_ms_per_redemption"] = round(
                    1000 * cpu["voucher_cores"] / r.accepted_per_s, 2
                )
            saturation.append({**r.as_dict(), **cpu})
            estimate = max(estimate, r.offered_per_s)
            say(
                f"rep {rep}/{args.reps} (a) HTTP saturation: {r.accepted_per_s:,.0f} "
                f"redemptions/s (non-2xx {r.non2xx}, errors {r.errors}; p99 {r.p99_ms:.1f} ms; "
                f"cores: wrk {r.wrk_cores}, " + ", ".join(f"{k} {v}" for k, v in cpu.items()) + ")"
            )
            # (No server CPU reading here: pgbench's backends exit before it could be read.)
            g = bt.run_pgbench(
                voucher_db,
                script,
                clients=args.pgbench_clients,
                threads=args.threads,
                duration_s=args.duration,
            )
            direct.append(g.as_dict())
            say(
                f"rep {rep}/{args.reps} (b) pgbench, same statement: {g.tps:,.0f} tps "
                f"(failed {g.failed}; pgbench itself {g.pgbench_cores} cores)"
            )
            m = bt.run_pgbench(
                minimal_db,
                yardstick / "redeem.pgbench",
                clients=args.yardstick_clients,
                threads=args.threads,
                duration_s=args.duration,
            )
            minimal.append(m.as_dict())
            say(f"rep {rep}/{args.reps} (c) pgbench, the minimal transaction: {m.tps:,.0f} tps")
        sat = bt.median([x["accepted_per_s"] for x in saturation])
        lim = bt.median([x["tps"] for x in direct])
        result["saturation"] = {
            "runs": saturation,
            "median_accepted_per_s": round(sat, 1),
            "median_voucher_cpu_ms_per_redemption": round(
                bt.median([x.get("voucher_cpu_ms_per_redemption", 0.0) for x in saturation]), 2
            ),
            "median_redemptions_per_commit": round(
                bt.median([x.get("redemptions_per_commit", 0.0) for x in saturation]), 2
            ),
        }
        result["direct_sql"] = {
            "runs": direct,
            "median_tps": round(lim, 1),
            "script": script.read_text(),
        }
        floor = bt.median([x["tps"] for x in minimal])
        result["minimal_sql"] = {
            "runs": minimal,
            "median_tps": round(floor, 1),
            "clients": args.yardstick_clients,
            "yardstick": str(yardstick),
        }
        result["ratio_a_over_b"] = round(sat / lim, 3) if lim else None
        result["ratio_a_over_c"] = round(sat / floor, 3) if floor else None
        result["ratio_b_over_c"] = round(lim / floor, 3) if floor else None
        say(f"(a)/(b) = {sat:,.0f} / {lim:,.0f} = {result['ratio_a_over_b']}")
        say(f"(a)/(c) = {sat:,.0f} / {floor:,.0f} = {result['ratio_a_over_c']} (goal >= 0.33)")

        rate = args.fixed_fraction * sat
        conns = 16
        fixed, fixed_runs = [], []
        for rep in range(1, args.reps + 1):
            tf = tokens_file(run_dir / "tokens.txt", ids, int(rate * args.duration * 1.3) + 500)
            r = bt.run_wrk(
                voucher_url,
                tf,
                secret,
                threads=args.threads,
                connections=conns,
                duration_s=args.duration,
                rate_per_s=rate,
                wrk=wrk,
            )
            fixed.append(r.as_dict())
            fixed_runs.append(r)
            say(
                f"rep {rep}/{args.reps} fixed rate {rate:,.0f}/s offered -> "
                f"{r.offered_per_s:,.0f}/s carried, {r.accepted_per_s:,.0f}/s accepted; "
                f"p50 {r.p50_ms:.1f} ms, p95 {r.p95_ms:.1f} ms, p99 {r.p99_ms:.1f} ms; "
                f"{r.late_share:.1%} sent 50 ms or more after their slot"
            )
        paced = bt.pacing(rate, fixed_runs)
        if "warning" in paced:
            say(f"WARNING: fixed rate: {paced['warning']}")
        result["fixed_rate"] = {
            "target_per_s": round(rate, 1),
            "connections": conns,
            "pacing": "schedule",
            "runs": fixed,
            **paced,
            **{
                f"median_{k}": round(bt.median([x[k] for x in fixed]), 2)
                for k in ("offered_per_s", "accepted_per_s", "p50_ms", "p95_ms", "p99_ms")
            },
        }

        if args.profile:
            pid = system.process("voucher").pid
            spy = bt.py_spy_record(pid, run_dir / "profile", args.duration)
            if spy is None:
                result["profile"] = {"skipped": "py-spy not installed (pip install py-spy)"}
            else:
                tf = tokens_file(
                    run_dir / "tokens.txt", ids, int(estimate * args.duration * 1.6) + 2000
                )
                bt.run_wrk(
                    voucher_url,
                    tf,
                    secret,
                    threads=args.threads,
                    connections=args.connections,
                    duration_s=args.duration,
                    wrk=wrk,
                )
                spy.wait(timeout=60)
                collapsed = run_dir / "profile" / "voucher.collapsed"
                result["profile"] = {
                    "file": str(collapsed),
                    "top_inclusive_pct": bt.top_frames(collapsed) if collapsed.exists() else [],
                }

        backlog = asyncio.run(check.outbox_lag(voucher_db))[0]
        say(f"ledger posting: {backlog} events waiting in the outbox")
        try:
            result["ledger_posting"] = relay_drain(
                system,
                run_dir / "profile" if args.profile else None,
                workers=args.relay_workers,
            )
            drained = result["ledger_posting"].get("events_per_s") or 0.0
            result["ledger_posting"]["ratio_to_saturation"] = (
                round(drained / sat, 3) if sat else None
            )
        except Exception as exc:
            result["ledger_posting"] = {"error": repr(exc)[:500]}
        say(f"ledger posting: {result['ledger_posting']}")

        fractions = tuple(float(x) for x in args.sustained.split(",") if x.strip())
        if fractions and "error" not in result["ledger_posting"]:
            if args.sustained_relay_workers:
                from services.voucher.relay import DEFAULT_LEASE_S, SHARE_EVERY_S

                gone = keep_relays(
                    system, args.sustained_relay_workers, DEFAULT_LEASE_S + SHARE_EVERY_S
                )
                if gone:
                    say(f"sustained run: {', '.join(gone)} stopped, their partitions taken over")
            result["sustained"] = sustained_run(
                system,
                ids=ids,
                secret=secret,
                wrk=wrk,
                saturation_per_s=sat,
                duration_s=max(args.duration, 15),
                threads=args.threads,
                connections=args.sustained_connections,
                steps=fractions,
                reps=args.reps,
                posting_idle=args.posting == "idle",
            )
            say(
                f"sustained end-to-end: {result['sustained']['sustained_per_s']:,.0f}/s = "
                f"{result['sustained']['ratio_to_saturation']} of saturation (goal >= 0.8)"
            )

        if args.issuance:
            result["issuance"] = issuance_run(system, args.issuance)
            say(f"issuance: {result['issuance']}")

    (run_dir / "tokens.txt").unlink(missing_ok=True)
    (run_dir / "bench.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False, default=str)
    )
    (run_dir / "bench.md").write_text(render(result))
    print(render(result), flush=True)
    say(f"results: {run_dir}/bench.json, bench.md")
    return 0


def _ms(values: list[float]) -> str:
    return "/".join(f"{v:.0f}" for v in values)


def _pcts(run: dict[str, Any]) -> str:
    return f"{run['p50_ms']:.1f}/{run['p95_ms']:.1f}/{run['p99_ms']:.1f}"


def _over(value: float | None, floor: float | None) -> str:
    return f"{value / floor:.3f}" if value and floor else ""


def render(r: dict[str, Any]) -> str:
    """One table a reader can compare across machines: every rate beside its ratio to the
    minimal transaction's pgbench rate of the same run, medians of the repetitions and their
    spread (min–max)."""
    m = r["machine"]
    sat, d, c = r.get("saturation", {}), r.get("direct_sql", {}), r.get("minimal_sql", {})
    f, ledger = r.get("fixed_rate", {}), r.get("ledger_posting", {})
    sus = r.get("sustained", {})
    floor = c.get("median_tps")
    sat_runs = [x["accepted_per_s"] for x in sat.get("runs", [])]
    tps_runs = [x["tps"] for x in d.get("runs", [])]
    min_runs = [x["tps"] for x in c.get("runs", [])]
    pcts = f"{f.get('median_p50_ms')} / {f.get('median_p95_ms')} / {f.get('median_p99_ms')}"
    cpu_sus = ", ".join(
        f"{k.removesuffix('_cpu_ms_per_redemption')} {v}"
        for k, v in sus.get("cpu_at_sustained", {}).items()
    )
    rows = [
        (
            "(c) pgbench, the minimal transaction (../shared/yardstick), tps",
            floor,
            bt.spread(min_runs),
            "1",
            f"{c.get('clients')} clients",
        ),
        (
            "(b) pgbench, our redemption statement, tps",
            d.get("median_tps"),
            bt.spread(tps_runs),
            _over(d.get("median_tps"), floor),
            "durable commits",
        ),
        (
            "(a) POST /v1/redemptions at saturation, accepted/s",
            sat.get("median_accepted_per_s"),
            bt.spread(sat_runs),
            _over(sat.get("median_accepted_per_s"), floor),
            f"(a)/(b) {r.get('ratio_a_over_b')}; goal (a)/(c) >= 0.33",
        ),
        (
            "sustained end-to-end (relay and ledger running), redemptions/s",
            sus.get("sustained_per_s"),
            "; ".join(
                f"{x['fraction']:.0%}: {'ok' if x['sustained'] else 'no'}"
                + (f" (p99 {_ms(x['p99_ms_runs'])})" if x.get("p99_ms_runs") else "")
                for x in sus.get("steps", [])
            ),
            _over(sus.get("sustained_per_s"), floor),
            f"{sus.get('ratio_to_saturation')} of (a), goal >= 0.8; posting in the "
            f"{sus.get('posting', 'normal class')}; CPU ms/redemption: {cpu_sus}",
        ),
        (
            f"ledger posting alone ({ledger.get('relay_workers')} relay workers draining the "
            f"backlog of {r.get('args', {}).get('books')} books), events/s",
            ledger.get("events_per_s"),
            f"steady {ledger.get('steady_events_per_s')}",
            _over(ledger.get("events_per_s"), floor),
            f"{ledger.get('ratio_to_saturation')} of (a), goal >= 1.5; "
            f"{ledger.get('initial')} events",
        ),
        (
            "CPU ms per event: voucher (at saturation) / ledger / relay / PostgreSQL (posting)",
            " / ".join(
                str(x)
                for x in (
                    sat.get("median_voucher_cpu_ms_per_redemption"),
                    ledger.get("ledger_cpu_ms_per_event"),
                    ledger.get("relay_cpu_ms_per_event"),
                    ledger.get("postgres_cpu_ms_per_event"),
                )
            ),
            "",
            "",
            "posting: the drain's CPU over the events drained, from the relays' start "
            "instant (their start-up excluded"
            + (
                f"; NOT READY in time: {', '.join(ledger['relays_late'])}"
                if ledger.get("relays_late")
                else ""
            )
            + "); end to end: the sustained row",
        ),
        (
            "redemptions a commit of the voucher database at saturation",
            sat.get("median_redemptions_per_commit"),
            bt.spread([x.get("redemptions_per_commit", 0.0) for x in sat.get("runs", [])]),
            "",
            "redemptions waiting for a statement connection commit together; every other "
            "transaction that wrote in the cluster in those seconds counted too",
        ),
        (
            "voucher service CPU per redemption at saturation, ms",
            sat.get("median_voucher_cpu_ms_per_redemption"),
            bt.spread([x.get("voucher_cpu_ms_per_redemption", 0.0) for x in sat.get("runs", [])]),
            "",
            "",
        ),
        (
            f"fixed rate {f.get('target_per_s')}/s offered: p50 / p95 / p99 ms",
            pcts,
            "; ".join(_pcts(x) for x in f.get("runs", [])),
            "",
            f"carried {f.get('carried_per_s')}/s ({f.get('carried_share')})",
        ),
        (
            "issuance run, seconds",
            r.get("issuance", {}).get("seconds"),
            "",
            "",
            ", ".join(f"{k} {v}" for k, v in r.get("issuance", {}).items() if k != "seconds"),
        ),
    ]
    reps = r.get("args", {}).get("reps")
    lines = [
        f"| measure | median of {reps} | spread (min–max) | ÷ (c) | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {sp} | {ratio} | {n} |" for a, b, sp, ratio, n in rows]
    if f.get("warning"):
        lines += ["", f"**Warning** (fixed rate): {f['warning']}."]
    lines += [
        "",
        (
            f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, "
            f"kernel {m['kernel']}, Python {m['python']}; load average at start "
            f"{m['load_average_at_start']}. PostgreSQL: {r.get('postgres', {})}."
        ),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
