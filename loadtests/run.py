"""`yiyang loadtest`: a bounded headless Locust run against a freshly started system, then
the correctness checks.

    yiyang loadtest [-u 20] [-r 10] [-t 30s] [--beneficiaries 2000] [--providers 20]
                    [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Steps: start the system (harness.System: its own databases, services on free ports, relay),
seed (seed.seed_all), run Locust headless for the given time writing `locust_*.csv` and
`locust.html` into the run's folder under reports/, sample the outbox lag while it runs,
wait for the relay to drain, run the checks (check.run_checks), write `summary.json`, stop
everything. Exit status 0 only when Locust saw no failures and every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from loadtests import check, seed
from loadtests.config import get_load_settings
from loadtests.harness import System, new_run_dir, say, ticker


class LagSampler(threading.Thread):
    """Samples the outbox's undelivered count every `every_s` seconds while the load runs."""

    def __init__(self, voucher_db_url: str, every_s: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.url, self.every_s = voucher_db_url, every_s
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self._halt.wait(self.every_s):
            try:
                pending, _ = asyncio.run(check.outbox_lag(self.url))
            except Exception:
                continue
            self.samples.append((round(time.monotonic() - started, 1), pending))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def growing(self) -> bool | None:
        """Whether the lag grew over the run (last third's mean > 2 × first third's + 50)."""
        if len(self.samples) < 6:
            return None
        third = len(self.samples) // 3
        first = sum(n for _, n in self.samples[:third]) / third
        last = sum(n for _, n in self.samples[-third:]) / third
        return last > 2 * first + 50


def run_locust(
    host: str, run_dir: Path, *, users: int, spawn_rate: float, run_time: str, env: dict[str, str]
) -> tuple[int, dict[str, float]]:
    """Locust headless and bounded; returns (exit status, its CPU use)."""
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(Path(__file__).with_name("locustfile.py")),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "-t",
        run_time,
        "--host",
        host,
        "--csv",
        str(run_dir / "locust"),
        "--html",
        str(run_dir / "locust.html"),
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    say("running Locust: " + " ".join(argv[2:]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    status = subprocess.call(argv, env={**os.environ, **env})
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return status, {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cores_used": round(cpu / wall, 2) if wall else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    s = get_load_settings()
    p = argparse.ArgumentParser(
        prog="yiyang loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-u", "--users", type=int, default=s.users)
    p.add_argument("-r", "--spawn-rate", type=float, default=s.spawn_rate)
    p.add_argument("-t", "--run-time", default=s.run_time)
    p.add_argument("--beneficiaries", type=int, default=s.beneficiaries)
    p.add_argument("--providers", type=int, default=s.providers)
    p.add_argument("--terminals", type=int, default=s.terminals_per_provider)
    p.add_argument(
        "--database-url",
        default=os.environ.get("YIYANG_LOAD_DATABASE_URL"),
        help="admin URL of a PostgreSQL to create the run's databases on "
        "(default: an embedded server in the run's folder)",
    )
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--keep-databases", action="store_true")
    args = p.parse_args(argv)

    run_dir = new_run_dir(args.reports, "loadtest").resolve()
    say(f"load test run in {run_dir}")
    summary: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    with System(run_dir, admin_url=args.database_url, keep_databases=args.keep_databases) as system:
        manifest = run_dir / "seed-manifest.json"
        say(
            f"seeding {args.beneficiaries} beneficiaries (bulk) and {args.providers} "
            f"providers x {args.terminals} terminals"
        )
        try:
            seeded = seed.seed_all(
                system.owner_urls["voucher"],
                system.urls["provider"],
                beneficiaries=args.beneficiaries,
                providers=args.providers,
                terminals_per_provider=args.terminals,
                manifest=manifest,
                region_code=s.region_code,
                period=s.period,
                ledger_url=system.urls["ledger"],
            )
        except seed.ProviderApiMissing as exc:
            say(f"cannot run the load: {exc}")
            return 2
        summary["seeded"] = {
            "beneficiaries": len(seeded["beneficiaries"]),
            "terminals": len(seeded["terminals"]),
        }
        outcomes = run_dir / "outcomes.jsonl"
        lag = LagSampler(system.owner_urls["voucher"])
        lag.start()
        status, cpu = run_locust(
            system.urls["voucher"],
            run_dir,
            users=args.users,
            spawn_rate=args.spawn_rate,
            run_time=args.run_time,
            env={"YIYANG_LOAD_MANIFEST": str(manifest), "YIYANG_LOAD_OUTCOMES": str(outcomes)},
        )
        lag.stop()
        summary["locust"] = {"exit_status": status, **cpu}
        summary["outbox_lag_samples"] = lag.samples
        summary["outbox_lag_growing"] = lag.growing()
        say(f"Locust finished (exit {status}; load generator used {cpu['cores_used']} cores)")
        with ticker("waiting for the relay") as tick:
            summary["drain"] = check.wait_for_drain(
                system.owner_urls["voucher"], progress=tick, stall_s=15
            )
        say("checking correctness")
        report = check.run_checks(
            system.owner_urls["voucher"],
            ledger_db_url=system.owner_urls["ledger"],
            ledger_url=system.urls["ledger"],
            outcomes_path=outcomes,
        )
        if lag.growing():
            report.add("relay keeps up (lag not growing)", False, f"samples {lag.samples}")
        summary["checks"] = report.as_dict()
        print(report.render(), flush=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    say(f"reports: {run_dir}/locust.html, locust_stats.csv, summary.json")
    return 0 if status == 0 and report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
