"""A small Patroni cluster on this machine's loopback: etcd and two PostgreSQL 16 nodes.

What the failover drill (loadtests/drill.py) builds: one etcd member, and two Patroni nodes
(`pg1`, `pg2`) in synchronous mode running the PostgreSQL binaries of the `pgserver` wheel the
project already depends on. Everything lives under one temporary folder and listens on
127.0.0.1 only, on ports the OS hands out now. The production shape (three nodes, scram
passwords, three etcd members) is infra/patroni/; this is the same configuration cut down to
what one machine can show.

PostgreSQL refuses to run as root: as root, Patroni (and so PostgreSQL) runs as the system
user `pgserver` (the user the `pgserver` package itself runs PostgreSQL as, created with
`useradd` if missing) through `setpriv`, and the folder belongs to that user. Otherwise
everything runs as the current user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from loadtests.harness import HOST, Process, free_port, say

RUN_AS = "pgserver"
SCOPE = "yiyang-drill"
# The drill's only secret, for a cluster that lives a minute on 127.0.0.1 with trust auth.
PASSWORD = "drill"


def pg_bin_dir() -> Path:
    """The PostgreSQL binaries of the pgserver wheel (initdb, postgres, pg_ctl, pg_rewind...)."""
    import pgserver

    return Path(pgserver.__file__).resolve().parent / "pginstall" / "bin"


def patroni_command() -> list[str]:
    """How to start Patroni: the console script beside this Python, else the module."""
    script = Path(sys.executable).with_name("patroni")
    return [str(script)] if script.exists() else [sys.executable, "-m", "patroni"]


def _run_as_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (created if missing); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", RUN_AS], check=True, capture_output=True)
        return pwd.getpwnam(RUN_AS)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent to reap it does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Node:
    name: str
    pg_port: int
    api_port: int
    data_dir: Path
    config: Path
    process: Process | None = None

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.pg_port}"

    def postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def node_config(
    node: Node, *, etcd: str, bin_dir: Path, base: Path, ttl: int = 20
) -> dict[str, Any]:
    """Patroni's configuration of one drill node (infra/patroni/ is the production one)."""
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "INFO", "dir": str(base / "logs" / node.name)},
        "restapi": {
            "listen": f"{HOST}:{node.api_port}",
            "connect_address": f"{HOST}:{node.api_port}",
        },
        "etcd3": {"hosts": [etcd]},
        "bootstrap": {
            "dcs": {
                "ttl": ttl,
                "loop_wait": 1,
                "retry_timeout": 5,
                "maximum_lag_on_failover": 1048576,
                # A commit is acknowledged only once the synchronous standby has it, and
                # Patroni promotes only that standby: nothing acknowledged is lost.
                "synchronous_mode": True,
                # A crashed primary is failed over at once, not restarted in place.
                "primary_start_timeout": 0,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "max_connections": 200,
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "128MB",
                        "synchronous_commit": "on",
                        "shared_buffers": "64MB",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
        },
        "postgresql": {
            "listen": node.address,
            "connect_address": node.address,
            "data_dir": str(node.data_dir),
            "bin_dir": str(bin_dir),
            "pgpass": str(base / f"pgpass-{node.name}"),
            "authentication": {
                "superuser": {"username": "postgres", "password": PASSWORD},
                "replication": {"username": "replicator", "password": PASSWORD},
                "rewind": {"username": "rewinder", "password": PASSWORD},
            },
            "parameters": {"unix_socket_directories": str(base / "sock" / node.name)},
            # Loopback only, for a cluster that lives a minute; production: scram-sha-256.
            "pg_hba": [
                "local all all trust",
                f"host replication replicator {HOST}/32 trust",
                f"host all all {HOST}/32 trust",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


@dataclass
class Cluster:
    """etcd + Patroni nodes under `base`. Use as a context manager (stops and removes all)."""

    nodes_count: int = 2
    progress: Callable[[str], None] = say
    keep: bool = False
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="yiyang-drill-")))
    nodes: list[Node] = field(default_factory=list)
    etcd: Process | None = None
    etcd_url: str = ""

    # -- start ------------------------------------------------------------------------------

    def _prefix(self) -> list[str]:
        user = _run_as_user()
        if user is None:
            return []
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]

    def _own(self) -> None:
        user = _run_as_user()
        self.base.chmod(0o755)
        for d in ("logs", "sock", "etcd"):
            (self.base / d).mkdir(exist_ok=True)
        if user is not None:
            for path in [self.base, *self.base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
            # That user must reach PostgreSQL's binaries, this Python and Patroni's package
            # (a checkout under /root, say): open the folders above them for traversal, as the
            # pgserver package itself does for its binaries when run as root.
            from pgserver.utils import ensure_prefix_permissions

            spec = importlib.util.find_spec("patroni")
            needed = [pg_bin_dir(), Path(sys.executable)]
            if spec is not None and spec.origin:
                needed.append(Path(spec.origin))
            for path in needed:
                ensure_prefix_permissions(path)

    def start(self) -> None:
        etcd_bin = shutil.which("etcd")
        if etcd_bin is None:
            raise RuntimeError("etcd is not installed (scripts/ensure_tools.py ensure_etcd)")
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://{HOST}:{client}"
        bin_dir = pg_bin_dir()
        for i in range(1, self.nodes_count + 1):
            name = f"pg{i}"
            node = Node(
                name,
                free_port(),
                free_port(),
                self.base / name,
                self.base / f"{name}.json",
            )
            (self.base / "logs" / name).mkdir(parents=True, exist_ok=True)
            (self.base / "sock" / name).mkdir(parents=True, exist_ok=True)
            self.nodes.append(node)
        self._own()
        self.etcd = Process(
            "etcd",
            [
                *self._prefix(),
                etcd_bin,
                "--name",
                "drill",
                "--data-dir",
                str(self.base / "etcd"),
                "--listen-client-urls",
                self.etcd_url,
                "--advertise-client-urls",
                self.etcd_url,
                "--listen-peer-urls",
                f"http://{HOST}:{peer}",
                "--initial-advertise-peer-urls",
                f"http://{HOST}:{peer}",
                "--initial-cluster",
                f"drill=http://{HOST}:{peer}",
                "--log-level",
                "warn",
            ],
            {"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")},
            self.base / "logs" / "etcd.log",
        )
        self.etcd.start()
        self._wait(lambda: httpx.get(f"{self.etcd_url}/health", timeout=2).status_code == 200, 30)
        self.progress(f"etcd up on {self.etcd_url} (pid {self.etcd.pid})")
        for n, node in enumerate(self.nodes):
            cfg = node_config(node, etcd=f"{HOST}:{client}", bin_dir=bin_dir, base=self.base)
            # JSON is YAML: Patroni reads it as is.
            node.config.write_text(json.dumps(cfg, indent=2))
            self._own()
            node.process = Process(
                f"patroni-{node.name}",
                [*self._prefix(), *patroni_command(), str(node.config)],
                {"HOME": str(self.base), "PATRONI_LOG_FORMAT": "%(asctime)s %(message)s"},
                self.base / "logs" / f"patroni-{node.name}.log",
            )
            node.process.start()
            self.progress(
                f"Patroni {node.name} started (pid {node.process.pid}, PostgreSQL on "
                f"{node.address}, REST on {node.api_port})"
            )
            if n == 0:
                # The first node bootstraps (initdb) alone, so that it is the first leader.
                self.wait_leader(timeout_s=120)
        self.wait_healthy(timeout_s=180)

    def _wait(self, ok: Callable[[], bool], timeout_s: float, what: str = "etcd") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
                if ok():
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{what} not ready after {timeout_s:.0f}s; see {self.base / 'logs'}")

    # -- state ------------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """The cluster as Patroni sees it (GET /cluster of any node that answers)."""
        for node in self.nodes:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                r = httpx.get(f"{node.api}/cluster", timeout=2)
                if r.status_code == 200:
                    members: list[dict[str, Any]] = r.json().get("members", [])
                    return members
        return []

    def leader(self) -> Node | None:
        """The node Patroni names leader, if it is running as primary."""
        for m in self.members():
            if m.get("role") == "leader" and m.get("state") == "running":
                return self.node(m["name"])
        return None

    def sync_standby(self) -> Node | None:
        for m in self.members():
            if m.get("role") == "sync_standby" and m.get("state") in ("streaming", "running"):
                return self.node(m["name"])
        return None

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def wait_leader(self, timeout_s: float, not_node: Node | None = None) -> Node:
        found: list[Node] = []

        def ok() -> bool:
            leader = self.leader()
            if leader is not None and leader is not not_node:
                found.append(leader)
                return True
            return False

        self._wait(ok, timeout_s, "a Patroni leader")
        return found[0]

    def wait_healthy(self, timeout_s: float) -> None:
        """Until there is a leader and a synchronous standby streaming from it."""
        self._wait(
            lambda: self.leader() is not None and self.sync_standby() is not None,
            timeout_s,
            "a leader with a synchronous standby",
        )
        self.progress(
            "cluster healthy: "
            + ", ".join(f"{m['name']} {m['role']} ({m['state']})" for m in self.members())
        )

    # -- URLs -------------------------------------------------------------------------------

    def admin_url(self, node: Node) -> str:
        return f"postgresql://postgres:{PASSWORD}@{node.address}/postgres"

    def hosts(self) -> str:
        """`h1:p1,h2:p2`: every node, for a libpq-style multi-host URL."""
        return ",".join(n.address for n in self.nodes)

    # -- faults -----------------------------------------------------------------------------

    def kill_postmaster(self, node: Node) -> int:
        """SIGKILL the node's postmaster (its backends die with it); return its pid."""
        pid = node.postmaster_pid()
        if pid is None:
            raise RuntimeError(f"{node.name} has no postmaster.pid")
        os.kill(pid, signal.SIGKILL)
        return pid

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything. A cluster that is thrown away (not `keep`) is stopped at once:
        Patroni killed, then each postmaster told to shut down immediately (SIGQUIT); a kept
        one is stopped the gentle way (SIGTERM to Patroni, which stops PostgreSQL)."""
        for node in self.nodes:
            if node.process is not None and node.process.popen is not None:
                with contextlib.suppress(ProcessLookupError):
                    if node.process.alive():
                        node.process.popen.send_signal(
                            signal.SIGTERM if self.keep else signal.SIGKILL
                        )
        pids = []
        for node in self.nodes:
            if node.process is not None:
                node.process.stop(timeout_s=30)
            # A postmaster left behind (Patroni killed) is stopped by its pid.
            pid = node.postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGQUIT)
                    pids.append(pid)
        deadline = time.monotonic() + 15
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if _alive(pid)]
            time.sleep(0.1)
        if self.etcd is not None:
            if self.etcd.alive() and self.etcd.popen is not None:
                self.etcd.popen.terminate()
            self.etcd.stop()
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
