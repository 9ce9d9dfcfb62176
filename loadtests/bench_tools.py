"""The pieces of the benchmark: the machine, wrk, pgbench, CPU accounting, profiles.

Kept apart from bench.py (the orchestration) so each piece can be read and tested alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import psutil

from services.common.db import asyncpg_connect_kwargs

SCRIPTS = Path(__file__).with_name("scripts")


# --- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


# --- CPU accounting ---------------------------------------------------------------------------


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def postmaster_pid(pg_data_dir: Path) -> int | None:
    """The embedded server's postmaster, from postmaster.pid in its data folder."""
    for candidate in (pg_data_dir / "postmaster.pid", pg_data_dir / "pgdata" / "postmaster.pid"):
        if candidate.exists():
            return int(candidate.read_text().split()[0])
    found = list(pg_data_dir.glob("**/postmaster.pid"))
    return int(found[0].read_text().split()[0]) if found else None


def pg_process_kind(proc: psutil.Process) -> str:
    """What a PostgreSQL server process does, from its title: `db:<name>` for a backend
    serving a client of that database, else its kind (`autovacuum`, `checkpointer`,
    `walwriter`, ...; `postmaster` for the server itself)."""
    try:
        title = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if not title.startswith("postgres: "):
        return "postmaster"
    words = title.removeprefix("postgres: ").split()
    if words and words[0].endswith(":"):  # a cluster's name ("15/main:")
        words = words[1:]
    if len(words) >= 3 and ("(" in words[2] or "[local]" in words[2] or words[2][:1].isdigit()):
        return f"db:{words[1]}"  # "user database host(port) state"
    return words[0] if words else "other"


def pg_backend_names(url: str) -> dict[int, str]:
    """Each client backend's `db:<database>/<application>` (pg_stat_activity), so the server's
    CPU can be told by who asked: the relay, the voucher service, the detector."""

    async def read() -> dict[int, str]:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
        try:
            rows = await conn.fetch(
                "SELECT pid, datname, application_name FROM pg_stat_activity "
                "WHERE backend_type = 'client backend'"
            )
        finally:
            await conn.close()
        return {
            r["pid"]: f"db:{r['datname']}/{r['application_name'] or '?'}"
            for r in rows
            if r["datname"]
        }

    try:
        return asyncio.run(read())
    except (OSError, asyncpg.PostgresError):
        return {}


class CpuMeter:
    """CPU seconds used by named process trees between start() and stop(); for a tree named
    `postgres`, also by kind of server process (`pg_process_kind`): which database's clients
    (with `pg_url`, which application's: `pg_backend_names`), autovacuum, the WAL writer.
    (A process that ends in between takes its CPU with it.)"""

    def __init__(self, pids: dict[str, int | None], pg_url: str | None = None) -> None:
        self.pids = {k: v for k, v in pids.items() if v}
        self.pg_url = pg_url
        self._before: dict[str, float] = {}
        self._pg_before: dict[int, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: cpu_seconds(process_tree(pid)) for name, pid in self.pids.items()}

    def _pg_read(self) -> dict[int, tuple[str, float]]:
        pid = self.pids.get("postgres")
        return {p.pid: (pg_process_kind(p), cpu_seconds([p])) for p in process_tree(pid or 0)}

    def start(self) -> None:
        self._before = self._read()
        self._pg_before = {pid: cpu for pid, (_, cpu) in self._pg_read().items()}
        self._t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._read()
        wall = time.monotonic() - self._t0
        out = {f"{k}_cores": round((after[k] - self._before.get(k, 0.0)) / wall, 2) for k in after}
        names = pg_backend_names(self.pg_url) if self.pg_url else {}
        by_kind: dict[str, float] = {}
        for pid, (kind, cpu) in self._pg_read().items():
            kind = names.get(pid, kind)
            by_kind[kind] = by_kind.get(kind, 0.0) + cpu - self._pg_before.get(pid, 0.0)
        self.postgres_by_kind = {k: round(v, 3) for k, v in sorted(by_kind.items()) if v > 0}
        return out


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --- wrk --------------------------------------------------------------------------------------


def ensure_wrk(progress=print) -> str:
    """wrk from Debian's packages; installed with apt-get when missing (needs root)."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise RuntimeError("wrk is not installed and this is not root: apt-get install wrk")
    progress("installing wrk from Debian's packages (apt-get install -y wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if (
        subprocess.call(
            ["apt-get", "install", "-y", "-q", "wrk"], env=env, stdout=subprocess.DEVNULL
        )
        != 0
    ):
        subprocess.check_call(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        subprocess.check_call(
            ["apt-get", "install", "-y", "-q", "wrk"], env=env, stdout=subprocess.DEVNULL
        )
    return shutil.which("wrk") or "wrk"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non2xx: int
    errors: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    wrk_cores: float
    # Requests that had a slot of the schedule, and how many left 10 / 50 ms or more after
    # it (their wait for a free connection is not in the percentiles: scripts/redeem.lua).
    paced: int = 0
    sent_late_10ms: int = 0
    sent_late_50ms: int = 0
    sent_late_max_ms: float = 0.0

    @property
    def late_share(self) -> float:
        """The share of paced requests that left 50 ms or more after their slot: at 1% or
        more, the run's true p99, timed from the schedule, is 50 ms or more whatever the
        percentiles say."""
        return self.sent_late_50ms / self.paced if self.paced else 0.0

    @property
    def accepted_per_s(self) -> float:
        return (self.requests - self.non2xx - self.errors) / self.seconds if self.seconds else 0

    @property
    def offered_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0

    def as_dict(self) -> dict[str, float]:
        return {
            **self.__dict__,
            "accepted_per_s": round(self.accepted_per_s, 1),
            "offered_per_s": round(self.offered_per_s, 1),
        }


def run_wrk(
    url: str,
    tokens_file: Path,
    secret: str,
    *,
    threads: int = 2,
    connections: int = 32,
    duration_s: int = 10,
    rate_per_s: float = 0,
    wrk: str = "wrk",
) -> WrkResult:
    """wrk with scripts/redeem.lua; `rate_per_s` > 0 paces it by a schedule (offered rate)."""
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPTS / "redeem.lua"),
        url,
        "--",
        str(tokens_file),
        str(threads),
        secret,
        f"{rate_per_s:.3f}",
    ]
    before = _children_cpu()
    out = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=duration_s + 60,
    ).stdout
    used = _children_cpu() - before
    match = re.search(r"WRK_JSON (\{.*\})", out or "")
    if not match:
        raise RuntimeError(f"wrk printed no result: {out[-2000:]}")
    d = json.loads(match.group(1))
    seconds = d["duration_us"] / 1e6
    cores = round(used / seconds, 2) if seconds else 0.0
    return WrkResult(
        requests=d["requests"],
        seconds=seconds,
        non2xx=d["non2xx"],
        errors=d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"],
        p50_ms=d["p50_us"] / 1000,
        p90_ms=d["p90_us"] / 1000,
        p95_ms=d["p95_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        max_ms=d["max_us"] / 1000,
        wrk_cores=cores,
        paced=d.get("paced", 0),
        sent_late_10ms=d.get("late10", 0),
        sent_late_50ms=d.get("late50", 0),
        sent_late_max_ms=d.get("late_max_us", 0) / 1000,
    )


# Below this share of the offered rate a fixed-rate run did not measure what it says.
CARRIED_MIN_SHARE = 0.95


def pacing(offered_per_s: float, runs: list[WrkResult]) -> dict[str, object]:
    """Offered vs carried (answered requests/s) of fixed-rate runs, with a warning when the
    median carried rate fell below CARRIED_MIN_SHARE of the offered one."""
    carried = median([r.offered_per_s for r in runs])
    share = carried / offered_per_s if offered_per_s else 0.0
    out: dict[str, object] = {
        "offered_per_s": round(offered_per_s, 1),
        "carried_per_s": round(carried, 1),
        "carried_share": round(share, 3),
    }
    if share < CARRIED_MIN_SHARE:
        out["warning"] = (
            f"carried {carried:.0f}/s is {100 * share:.0f}% of the offered "
            f"{offered_per_s:.0f}/s (< {100 * CARRIED_MIN_SHARE:.0f}%): the "
            "latencies are of a lower rate than offered"
        )
    return out


# --- pgbench ----------------------------------------------------------------------------------

# The redemption statement's parameters, as pgbench expressions (descending, so $22 is
# replaced before $2): a bill of one lunch, as the wrk run sends it. Ids are made once per statement in the `ids` CTE (volatile, so it is
# materialised once however often it is read).
_PARAMS = [
    ("$22::uuid", "NULL::uuid"),  # no home visit (a lunch)
    ("$21::text", "'bench-staff'::text"),  # the staff member at the terminal
    ("$20::bigint", "1::bigint"),  # the price list's version
    ("$19::bigint[]", "ARRAY[1500]::bigint[]"),  # one lunch at its list price
    ("$18::int[]", "ARRAY[1]::int[]"),
    ("$17::text", "'450103'::text"),  # the seeded providers' region (vouchers: city 4501)
    ("$16::uuid", "NULL::uuid"),
    ("$15::bytea", "'\\x" + "00" * 32 + "'::bytea"),
    ("$14::text", "(SELECT rid FROM ids)::text"),
    ("$13::text[]", "ARRAY['MEAL_LUNCH']::text[]"),
    ("$12::text", "'bench-terminal'::text"),
    ("$11::text", "'bench-provider'::text"),
    ("$10::uuid", "(SELECT eid FROM ids)"),
    ("$9::uuid", "(SELECT rid FROM ids)"),
    ("$8::timestamptz", "now()"),
    ("$7::date", "(now() AT TIME ZONE 'Asia/Shanghai')::date"),
    ("$6::bigint", "1500::bigint"),
    ("$5::text[]", "ARRAY['meal']::text[]"),
    ("$4::text", "'meal_point'::text"),
    ("$3::timestamptz", "(now() + interval '60 seconds')"),
    ("$2::bytea", "int8send(:nonce)"),
    ("$1::uuid", "(SELECT b FROM bench_pick WHERE n = :n)"),
]


def pgbench_script(redeem_sql: str, beneficiaries: int) -> str:
    """The service's own redemption statement, parameters bound by pgbench instead."""
    sql = redeem_sql.strip()
    for placeholder, expression in _PARAMS:
        sql = sql.replace(placeholder, expression)
    left = re.findall(r"\$\d+", sql)
    if left:
        raise ValueError(
            f"the redemption statement has parameters the bench does not bind: {sorted(set(left))}"
        )
    if not sql.upper().startswith("WITH "):
        raise ValueError("the redemption statement no longer starts with WITH")
    sql = "WITH ids AS (SELECT gen_random_uuid() AS rid, gen_random_uuid() AS eid),\n" + sql[5:]
    return (
        f"\\set n random(1, {beneficiaries})\n"
        "\\set nonce random(1, 9000000000000000000)\n" + sql + ";\n"
    )


BENCH_PICK_SQL = """
DROP TABLE IF EXISTS bench_pick;
CREATE TABLE bench_pick AS
  SELECT row_number() OVER (ORDER BY id)::int AS n, id AS b FROM beneficiary;
ALTER TABLE bench_pick ADD PRIMARY KEY (n);
ANALYZE bench_pick;
"""


def pgbench_binary() -> str:
    return client_binary("pgbench")


def pgbench_conn_args(url: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    args = [
        "-h",
        query.get("host") or parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        parts.path.lstrip("/") or "postgres",
    ]
    env = {"PGPASSWORD": parts.password} if parts.password else {}
    return args, env


@dataclass
class PgbenchResult:
    tps: float
    transactions: int
    failed: int
    latency_ms: float
    pgbench_cores: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def run_pgbench(
    url: str, script: Path, *, clients: int = 16, threads: int = 2, duration_s: int = 10
) -> PgbenchResult:
    conn, env = pgbench_conn_args(url)
    argv = [
        pgbench_binary(),
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(threads),
        "-T",
        str(duration_s),
        "-f",
        str(script),
        *conn,
    ]
    before = _children_cpu()
    proc = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        env={**os.environ, **env},
        timeout=duration_s + 120,
    )
    used = _children_cpu() - before
    out = proc.stdout
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"pgbench failed ({proc.returncode}): {out[-2000:]}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    txns = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    if not tps:
        raise RuntimeError(f"pgbench printed no tps: {out[-2000:]}")
    return PgbenchResult(
        float(tps.group(1)),
        int(txns.group(1)) if txns else 0,
        int(failed.group(1)) if failed else 0,
        float(lat.group(1)) if lat else 0.0,
        round(used / duration_s, 2),
    )


# --- the yardstick: the minimal redemption transaction -------------------------------------
#
# ../shared/yardstick/ (schema.sql and redeem.pgbench) defines the floor any redemption must
# pay: a conditional decrement, a redemption row with a unique key, an outbox row, one durable
# transaction. The bench runs it on the same server, in the same run, between its own
# measurements, and reports every rate as a ratio to it.

YARDSTICK_ENV = "YIYANG_YARDSTICK_DIR"


def yardstick_dir() -> Path | None:
    """Where the yardstick lives: $YIYANG_YARDSTICK_DIR, else ../shared/yardstick beside the
    checkout. None if neither holds both files."""
    configured = os.environ.get(YARDSTICK_ENV)
    root = Path(__file__).resolve().parents[1]
    for candidate in ([Path(configured)] if configured else []) + [
        root.parent / "shared" / "yardstick"
    ]:
        if (candidate / "schema.sql").is_file() and (candidate / "redeem.pgbench").is_file():
            return candidate
    return None


def client_binary(name: str) -> str:
    """psql or pgbench: the embedded server's own, else the machine's."""
    import pgserver

    path = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
    if path.exists():
        return str(path)
    return shutil.which(name) or name


def load_yardstick(url: str, directory: Path) -> None:
    """Create the yardstick's tables and its 100,000 vouchers in the database at `url`."""
    conn, env = pgbench_conn_args(url)
    proc = subprocess.run(
        [
            client_binary("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            str(directory / "schema.sql"),
            *conn,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the yardstick schema did not load: {proc.stdout[-2000:]}")


# --- tokens -----------------------------------------------------------------------------------


def mint_tokens(
    beneficiary_ids: list[str], count: int, *, ttl_s: int = 900, private_key_pem: str | None = None
) -> list[str]:
    """Phone codes made offline with the service's QR key (what the app would be given).

    Each has a fresh random nonce; the beneficiaries are taken in a shuffled cycle so that
    concurrent requests rarely wait on the same voucher row.
    """
    import random

    from services.voucher.config import get_settings
    from services.voucher.service.codes import issue_dynamic

    key = private_key_pem or get_settings().qr_private_key
    order = list(beneficiary_ids)
    random.shuffle(order)
    return [issue_dynamic(key, uuid.UUID(order[i % len(order)]), ttl_s).text for i in range(count)]


# --- profiles ---------------------------------------------------------------------------------


def py_spy_record(
    pid: int, out_dir: Path, duration_s: int | None, name: str = "voucher"
) -> subprocess.Popen[bytes] | None:
    """Start sampling the process with py-spy into `out_dir/<name>.collapsed` (collapsed
    stacks), or None if py-spy is absent. Without a duration it samples until stopped with
    `py_spy_stop` (SIGINT: py-spy then writes what it has)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    timing = ["--duration", str(duration_s)] if duration_s else []
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            *timing,
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out_dir / f"{name}.collapsed"),
            "--nonblocking",
            "--subprocesses",
        ],  # with --workers the pid is uvicorn's supervisor
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def py_spy_stop(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def top_frames(collapsed: Path, n: int = 25) -> list[tuple[str, float]]:
    """Share of samples in which each function appears (inclusive), from collapsed stacks."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = {
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        }
        for f in frames:
            inclusive[f] += k
    return [(f, round(100 * c / total, 1)) for f, c in inclusive.most_common(n)] if total else []


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (t, y) points (y per second); 0 for fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def spread(values: list[float]) -> str:
    """min–max of repetitions, as a reader compares them: '1,203–1,310'."""
    if not values:
        return ""
    return (
        f"{min(values):,.0f}–{max(values):,.0f}"
        if max(values) >= 10
        else (f"{min(values):.3f}–{max(values):.3f}")
    )
