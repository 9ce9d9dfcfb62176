"""`yiyang up` supervises: a child that dies is started again after a growing pause, and
Ctrl-C stops everything cleanly (no traceback, exit 0)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from services.launcher import BACKOFF_S, STABLE_S, Child, Supervisor
from tests.fixtures.processes import ROOT, free_port


def _wait(predicate, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_dead_child_is_started_again_with_a_growing_pause():
    said: list[str] = []
    dier = Child("dier", [sys.executable, "-c", "import sys; sys.exit(3)"], None)
    sleeper = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], None)
    sup = Supervisor([dier, sleeper], said.append)
    sup.start_all()
    try:
        first_pid = dier.process.pid
        _wait(lambda: dier.process.poll() is not None)
        now = dier.started_at + 0.5
        sup.check(now)
        assert dier.restart_at == now + BACKOFF_S[0]
        assert said[-1] == "[up] dier exited (code 3); starting it again in 1 s (restart 1)"
        sup.check(now + 0.5)  # the pause is not over: nothing starts
        assert dier.process.pid == first_pid
        sup.check(now + BACKOFF_S[0])
        assert dier.process.pid != first_pid and said[-1].startswith("[up] dier started again")
        _wait(lambda: dier.process.poll() is not None)
        sup.check(dier.started_at + 0.5)  # died again at once: a longer pause
        assert said[-1].endswith(f"in {BACKOFF_S[1]} s (restart 2)")
        sup.check(dier.restart_at)
        _wait(lambda: dier.process.poll() is not None)
        sup.check(dier.started_at + STABLE_S + 1)  # it had run a minute: back to the first pause
        assert said[-1].endswith(f"in {BACKOFF_S[0]} s (restart 1)")
        assert sleeper.process.poll() is None  # the others were left alone
    finally:
        sup.stop_all(timeout_s=5)
    assert sleeper.process.poll() is not None


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies are not)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _run_up_kill_voucher_and_stop(env: dict[str, str], voucher_port: int) -> str:
    """Run `yiyang up`, SIGKILL the voucher service once it is running, wait until it is back,
    press Ctrl-C; the launcher's whole output."""
    launcher = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stdout), daemon=True)
    reader.start()

    def output() -> str:
        return "".join(lines)

    def ready() -> bool:
        try:
            url = f"http://127.0.0.1:{voucher_port}/readyz"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(lambda: "Press Ctrl-C to stop everything." in output(), timeout_s=120)
        pid = int(re.search(r"\[up\] started voucher \(pid (\d+)\)", output()).group(1))
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: "[up] voucher exited (code -9); starting it again in 1 s" in output(), 15)
        _wait(lambda: "[up] voucher started again" in output(), 15)
        # The killed server's worker processes (2, `SERVICE_WORKERS`) went with it.
        _wait(lambda: not _alive_in_group(pid), 15)
        _wait(ready, 60)
        launcher.send_signal(signal.SIGINT)  # Ctrl-C
        assert launcher.wait(timeout=30) == 0, output()
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    reader.join(timeout=5)
    return output()


@pytest.mark.slow
async def test_yiyang_up_restarts_a_killed_service_and_stops_cleanly_on_ctrl_c(make_db, tmp_path):
    dbs = {s: await make_db(s) for s in ("voucher", "provider", "ledger", "web")}
    ports = {name: free_port() for name in ("voucher", "provider", "ledger", "web", "stripe")}
    env = dict(
        os.environ,
        YIYANG_ENV="development",
        YIYANG_DATA_DIR=str(tmp_path),
        YIYANG_VOUCHER_URL=f"http://127.0.0.1:{ports['voucher']}",
        YIYANG_PROVIDER_URL=f"http://127.0.0.1:{ports['provider']}",
        YIYANG_LEDGER_URL=f"http://127.0.0.1:{ports['ledger']}",
        YIYANG_WEB_URL=f"http://127.0.0.1:{ports['web']}",
        YIYANG_VOUCHER_STRIPE_API_BASE=f"http://127.0.0.1:{ports['stripe']}",
        **{f"YIYANG_{s.upper()}_DATABASE_URL": db.owner_url for s, db in dbs.items()},
    )
    out = await asyncio.to_thread(_run_up_kill_voucher_and_stop, env, ports["voucher"])
    assert "Traceback" not in out
    tail = out.split("[up] stopping...", 1)[1].strip().splitlines()
    assert tail[-1] == "[up] stopped" and len(tail) <= 6, tail
