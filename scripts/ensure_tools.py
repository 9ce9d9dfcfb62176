"""Make sure the tools some tests drive are on the machine, installing what is missing.

- `ensure_browser()`: Debian's Chromium, a CJK font and Playwright (the browser tests);
- `ensure_wrk()`: wrk, the HTTP load generator of `yiyang bench` (its Lua script tests).

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


if __name__ == "__main__":
    print(ensure_browser())
    print(ensure_wrk())
