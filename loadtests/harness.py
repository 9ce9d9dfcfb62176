"""Starting the whole system for one load-test or benchmark run, and stopping it after.

A run gets its own PostgreSQL databases: either an embedded server under the run's folder
(`reports/<run>/pg`, nothing shared with `yiyang up` or the tests), or run-specific databases
(`yl_<run>_<service>`) on a server given by an admin URL. The three services are started as
uvicorn subprocesses on free ports chosen now, the outbox relay as a subprocess, and each is waited for on `/readyz`. Everything is stopped (and run databases on a
shared server dropped, unless kept) when the `System` context exits. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from services.common import embedded_pg
from services.common.migrate import (
    SERVICES,
    drop_database,
    ensure_database,
    prepare_service_database,
)
from services.launcher import terminate_as_interrupt

HOST = "127.0.0.1"
Progress = Callable[[str], None]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready_url: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    _log: object | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout_s: float = 10) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


@dataclass
class System:
    """One running Yiyang: databases, services, relay. Use as a context manager."""

    run_dir: Path
    admin_url: str | None = None  # None: an embedded server under run_dir/pg
    keep_databases: bool = False
    workers: int = 1
    with_relay: bool = True
    progress: Progress = say
    owner_urls: dict[str, str] = field(default_factory=dict)
    app_urls: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    _embedded: bool = False
    _admin: str | None = None
    _extra: list[str] = field(default_factory=list)
    _sigterm: Any = None

    # -- databases -------------------------------------------------------------------------

    def database_name(self, service: str) -> str | None:
        if self._embedded:
            return None  # the service's usual name inside the run's own server
        return f"yl_{self.run_dir.name.replace('-', '_')}_{service}"

    async def prepare_databases(self) -> None:
        if self.admin_url is None:
            self._embedded = True
            self.progress(f"starting embedded PostgreSQL under {self.run_dir / 'pg'}")
            self._admin = embedded_pg.start(self.run_dir / "pg", stop_at_exit=True)
        else:
            self._admin = self.admin_url
        for service in SERVICES:
            self.progress(f"creating and migrating the {service} database")
            owner, app = await prepare_service_database(
                self._admin, service, self.database_name(service)
            )
            self.owner_urls[service], self.app_urls[service] = owner, app

    async def extra_database(self, purpose: str) -> str:
        """A database of the run's own beside the services' (the yardstick's, say): its owner
        URL. Dropped with the services' databases."""
        assert self._admin is not None, "the databases are not prepared"
        name = self.database_name(purpose) or f"bench_{purpose}"
        self._extra.append(name)
        return await ensure_database(self._admin, name)

    async def drop_databases(self) -> None:
        if self._embedded or self.keep_databases or self._admin is None:
            return
        for name in [*(self.database_name(s) for s in SERVICES), *self._extra]:
            if name:
                await drop_database(self._admin, name)

    # -- processes -------------------------------------------------------------------------

    def _common_env(self) -> dict[str, str]:
        return {
            "YIYANG_DATA_DIR": str(self.run_dir / "data"),
            "YIYANG_VOUCHER_URL": self.urls["voucher"],
            "YIYANG_PROVIDER_URL": self.urls["provider"],
            "YIYANG_LEDGER_URL": self.urls["ledger"],
            **{f"YIYANG_{s.upper()}_DATABASE_URL": self.app_urls[s] for s in SERVICES},
        }

    def start_processes(self) -> None:
        for service in SERVICES:
            self.urls[service] = f"http://{HOST}:{free_port()}"
        env = self._common_env()
        py = sys.executable
        # Provider first: the voucher service reads its directory at start-up.
        for service in ("provider", "ledger", "voucher"):
            port = self.urls[service].rsplit(":", 1)[1]
            argv = [py, "-m", "services.cli", "serve", service, "--host", HOST, "--port", port]
            if service == "voucher" and self.workers > 1:
                argv += ["--workers", str(self.workers)]
            proc = Process(
                service,
                argv,
                env,
                self.run_dir / "logs" / f"{service}.log",
                f"{self.urls[service]}/readyz",
            )
            proc.start()
            self.processes.append(proc)
            self.progress(f"started {service} on {self.urls[service]} (pid {proc.pid})")
        if self.with_relay:
            proc = Process(
                "relay",
                [py, "-m", "services.cli", "relay"],
                env,
                self.run_dir / "logs" / "relay.log",
            )
            proc.start()
            self.processes.append(proc)
            self.progress(f"started relay (pid {proc.pid})")

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        for proc in self.processes:
            while True:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
                if proc.ready_url is None:
                    break
                try:
                    if httpx.get(proc.ready_url, timeout=2).status_code == 200:
                        self.progress(f"{proc.name} ready")
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{proc.name} not ready after {timeout_s:.0f}s; see {proc.log_path}"
                    )
                time.sleep(0.3)

    def process(self, name: str) -> Process:
        """The started process of that name (a KeyError if there is none)."""
        found = next((p for p in self.processes if p.name == name), None)
        if found is None:
            raise KeyError(name)
        return found

    def stop_processes(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        if self.processes:
            self.progress("stopped services")
        self.processes.clear()

    # -- whole -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._stop_on_sigterm()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(self.prepare_databases())
        try:
            self.start_processes()
            self.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _stop_on_sigterm(self) -> None:
        """SIGTERM (a CI job's timeout, `kill`) stops the run as Ctrl-C does, so the context
        exits and stops what it started: the services run in sessions of their own and would
        otherwise outlive a killed run, holding its server and ports."""
        if threading.current_thread() is threading.main_thread():
            self._sigterm = signal.signal(signal.SIGTERM, terminate_as_interrupt)

    def __exit__(self, *_exc: object) -> None:
        if self._sigterm is not None:  # a second SIGTERM does not cut the clean-up short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self._stop_everything()
        finally:
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm = None

    def _stop_everything(self) -> None:
        self.stop_processes()
        with contextlib.suppress(Exception):
            asyncio.run(self.drop_databases())
        if self._embedded:
            embedded_pg.stop(self.run_dir / "pg")
            self.progress("stopped embedded PostgreSQL")
            if not self.keep_databases:
                # The reports stay; the run's database files (hundreds of MB) go.
                shutil.rmtree(self.run_dir / "pg", ignore_errors=True)
                shutil.rmtree(self.run_dir / "data", ignore_errors=True)


def new_run_dir(base: Path, kind: str) -> Path:
    return base / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


@contextlib.contextmanager
def ticker(label: str, every_s: float = 2.0) -> Iterator[Callable[[str], None]]:
    """Print `label: <status>` at most every `every_s` seconds while a long step runs."""
    last = 0.0

    def update(status: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            say(f"{label}: {status}")

    yield update
