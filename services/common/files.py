"""Files that hold secrets (the terminal secrets the demo keeps): owner only."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: str) -> None:
    """Write `data` to `path` atomically, readable and writable by its owner only (0600) from
    the moment it exists: a temporary file created 0600, then renamed over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(tmp, 0o600)  # an existing tmp keeps its old mode through O_CREAT
    os.replace(tmp, path)
