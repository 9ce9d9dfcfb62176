#!/usr/bin/env python3
"""Bootstrap for a fresh machine that has only Python 3.11+.

    python3 dev.py up --demo     run the whole system with demo data
    python3 dev.py test          the gate: ruff check, ruff format --check, mypy, then pytest
    python3 dev.py test ARGS     only pytest, with ARGS (e.g. `tests/ledger -k chain`)
    python3 dev.py lint          only the checks (ruff check, ruff format --check, mypy)
    python3 dev.py ANYTHING      any other `yiyang` subcommand, e.g. `token --role auditor`

It creates `.venv/` beside this file and installs the project into it (again whenever
pyproject.toml changes), then hands over to the `yiyang` command or pytest inside it.
Only the standard library is used here, because nothing else exists yet on a new machine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".yiyang-installed"


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _wanted_stamp() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{sys.version_info[:2]} {digest}"


def ensure_environment() -> Path:
    python = _venv_python()
    if not python.exists():
        print(f"[dev] creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if not STAMP.exists() or STAMP.read_text() != _wanted_stamp():
        print(
            "[dev] installing the project and its test tools (first run takes a minute)", flush=True
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                "-e",
                f"{ROOT}[dev]",
            ],
            check=True,
        )
        STAMP.write_text(_wanted_stamp())
    return python


CHECKS = (
    ("ruff check", ["-m", "ruff", "check", "."]),
    ("ruff format --check", ["-m", "ruff", "format", "--check", "."]),
    ("mypy", ["-m", "mypy"]),
)


def run_checks(python: Path, env: dict[str, str]) -> list[str]:
    """Run every static check, each to the end; the names of those that failed."""
    failed = []
    for name, args in CHECKS:
        print(f"[dev] {name}", flush=True)
        if subprocess.run([str(python), *args], cwd=ROOT, env=env).returncode != 0:
            failed.append(name)
    return failed


def parallel() -> list[str]:
    """The gate runs the suite in two processes (pytest-xdist, a whole test file to each at a
    time): much of a test's time is spent waiting on PostgreSQL, a browser or a child process,
    so two keep both cores busy. YIYANG_TEST_WORKERS=1 runs it in one."""
    workers = os.environ.get("YIYANG_TEST_WORKERS", "2")
    return [] if workers in ("0", "1") else ["-n", workers, "--dist", "loadfile"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    python = ensure_environment()
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(ROOT)
    if argv[0] == "lint" or argv == ["test"]:
        failed = run_checks(python, env)
        tests_ok = True
        if argv[0] == "test":
            print("[dev] pytest", flush=True)
            tests_ok = (
                subprocess.run([str(python), "-m", "pytest", *parallel()], env=env).returncode == 0
            )
        if failed:
            print(f"[dev] failed: {', '.join(failed)}", flush=True)
        return 0 if tests_ok and not failed else 1
    if argv[0] == "test":
        cmd = [str(python), "-m", "pytest", *argv[1:]]
    else:
        cmd = [str(python), "-m", "services.cli", *argv]
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
