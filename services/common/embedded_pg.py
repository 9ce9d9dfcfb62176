"""The embedded PostgreSQL: a real PostgreSQL 16 from the `pgserver` wheel, under a data folder.

With no database URL configured, `yiyang up`, a service started alone, and the tests all use
this server. It listens on a Unix socket inside the data folder only (no TCP port), and every
process that asks for the same folder shares the one server.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("yiyang.embedded_pg")

_servers: dict[Path, Any] = {}  # pgserver.PostgresServer (the package ships no types)


def start(data_dir: Path, *, stop_at_exit: bool = False) -> str:
    """Start (or join) the embedded server whose data lives in `data_dir`; return its admin URL."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if data_dir not in _servers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
            _servers[data_dir] = pgserver.get_server(  # type: ignore[attr-defined]
                data_dir, cleanup_mode="stop" if stop_at_exit else None
            )
    uri: str = _servers[data_dir].get_uri()
    return uri


def stop(data_dir: Path) -> None:
    server = _servers.pop(Path(data_dir).resolve(), None)
    if server is not None:
        server.cleanup()
