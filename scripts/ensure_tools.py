"""Make sure the tools some tests drive are on the machine, installing what is missing.

- `ensure_browser()`: Debian's Chromium, a CJK font and Playwright (the browser tests);
- `ensure_wrk()`: wrk, the HTTP load generator of `yiyang bench` (its Lua script tests);
- `ensure_etcd()`: Debian's etcd-server, the consensus store of the failover drill's cluster;
- `ensure_patroni()`: Patroni with its etcd3 support and psycopg (PyPI: the `dev` extra of
  pyproject.toml; installed with pip if missing), the drill's PostgreSQL cluster manager;
- `ensure_pgbouncer()`: Debian's pgbouncer, the transaction-mode connection pooler
  (tests/common/test_pgbouncer.py runs the services through it).

Called by the tests' fixtures (tests/conftest.py, `tool`) and runnable by hand:
`python scripts/ensure_tools.py`. Installs through the ordinary clients (apt-get as root, pip
for Playwright's Python package); never runs `playwright install`: the browser is the
system's Chromium. Each returns the tool's path or raises ToolUnavailable with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
APT_PACKAGES = ["chromium", "fonts-noto-cjk"]
CJK_FONT_DIR = Path("/usr/share/fonts/opentype/noto")


class ToolUnavailable(RuntimeError):
    pass


def _run(cmd: list[str], timeout: int) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ToolUnavailable(f"{' '.join(cmd[:3])} failed: {' | '.join(tail)}")


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        raise ToolUnavailable(
            f"{', '.join(packages)} missing and not root: run `sudo apt-get install -y "
            f"{' '.join(packages)}`"
        )
    if not shutil.which("apt-get"):
        raise ToolUnavailable(f"no apt-get on this machine to install {', '.join(packages)}")
    # Another installer (a second test process, unattended upgrades) may hold dpkg's lock:
    # wait for it rather than failing.
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    _run(["apt-get", *wait, "update", "-qq"], timeout=900)
    _run(["apt-get", *wait, "install", "-y", "-qq", *packages], timeout=1800)


def ensure_browser() -> Path:
    missing = []
    if not CHROMIUM.exists():
        missing.append("chromium")
    if not CJK_FONT_DIR.exists():
        missing.append("fonts-noto-cjk")
    if missing:
        _apt_install(missing)
    if not CHROMIUM.exists():
        raise ToolUnavailable(f"{CHROMIUM} still missing after apt-get install")
    if importlib.util.find_spec("playwright") is None:
        _run([sys.executable, "-m", "pip", "install", "-q", "playwright"], timeout=900)
        importlib.invalidate_caches()
    if importlib.util.find_spec("playwright") is None:
        raise ToolUnavailable("the playwright Python package could not be installed")
    return CHROMIUM


def ensure_wrk() -> Path:
    found = shutil.which("wrk")
    if found is None:
        _apt_install(["wrk"])
        found = shutil.which("wrk")
    if found is None:
        raise ToolUnavailable("wrk still missing after apt-get install")
    return Path(found)


def ensure_etcd() -> Path:
    found = shutil.which("etcd")
    if found is None:
        _apt_install(["etcd-server"])
        found = shutil.which("etcd")
    if found is None:
        raise ToolUnavailable("etcd still missing after apt-get install etcd-server")
    return Path(found)


PGBOUNCER_PATHS = (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer"))


def ensure_pgbouncer() -> Path:
    """Debian's pgbouncer (installed under /usr/sbin, often not on a user's PATH)."""

    def found() -> Path | None:
        on_path = shutil.which("pgbouncer")
        if on_path:
            return Path(on_path)
        return next((p for p in PGBOUNCER_PATHS if p.exists()), None)

    path = found()
    if path is None:
        _apt_install(["pgbouncer"])
        path = found()
    if path is None:
        raise ToolUnavailable("pgbouncer still missing after apt-get install pgbouncer")
    return path


PATRONI_PACKAGES = ["patroni[etcd3]>=4", "psycopg[binary]>=3.1"]


def ensure_patroni() -> Path:
    """Patroni (run as `<this python's folder>/patroni`) and the driver it needs."""
    script = Path(sys.executable).with_name("patroni")
    wanted = ("patroni", "psycopg", "etcd")  # etcd: python-etcd, the etcd3 extra's client
    if not script.exists() or any(importlib.util.find_spec(m) is None for m in wanted):
        _run([sys.executable, "-m", "pip", "install", "-q", *PATRONI_PACKAGES], timeout=900)
        importlib.invalidate_caches()
    if not script.exists():
        raise ToolUnavailable(f"{script} still missing after pip install patroni")
    return script


if __name__ == "__main__":
    print(ensure_browser())
    print(ensure_wrk())
    print(ensure_etcd())
    print(ensure_patroni())
    print(ensure_pgbouncer())
