"""A load-test or benchmark run that is killed stops what it started."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import drop_database

RUN = """
import pathlib, sys, time
from loadtests.harness import System

run_dir, admin_url, out = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
with System(run_dir, admin_url=admin_url, with_relay=False) as system:
    out.write_text(" ".join(str(p.pid) for p in system.processes))
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child already stopped but not yet reaped by its parent is a zombie: gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[1].split()[0] != "Z"


async def _run_databases(admin_url: str, run_name: str) -> list[str]:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(admin_url))
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            f"yl_{run_name.replace('-', '_')}_%",
        )
    finally:
        await conn.close()
    return [r["datname"] for r in rows]


async def test_sigterm_stops_the_runs_services_and_drops_its_databases(
    tmp_path: Path, pg_admin_url: str
) -> None:
    run_dir, pids_file = tmp_path / "run-sigterm", tmp_path / "pids"
    pids: list[int] = []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN,
        str(run_dir),
        pg_admin_url,
        str(pids_file),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(900):  # up to 3 minutes for the databases and the three services
            if pids_file.exists() or proc.returncode is not None:
                break
            await asyncio.sleep(0.2)
        assert pids_file.exists(), "the run did not start its services"
        pids.extend(int(p) for p in pids_file.read_text().split())
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        assert len(await _run_databases(pg_admin_url, run_dir.name)) == 3

        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=90)

        # The services run in sessions of their own: only the run's clean-up stops them.
        assert not [p for p in pids if _alive(p)]
        assert await _run_databases(pg_admin_url, run_dir.name) == []
    finally:  # whatever the outcome, nothing of the run outlives the test
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for name in await _run_databases(pg_admin_url, run_dir.name):
            await drop_database(pg_admin_url, name)
