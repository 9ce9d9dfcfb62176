"""Files that hold secrets (the terminal secrets the demo keeps) or records only this
process writes (the ledger's signed checkpoints): owner only."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
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


def append_private(path: Path, decide: Callable[[list[str]], list[str]]) -> list[str]:
    """Append lines to an owner-only (0600) file that is only ever appended to.

    Under an exclusive lock on the file (so that several processes append one at a time),
    `decide` is given the lines already there and returns the lines to append (each without
    its newline); they are written with one `write` and flushed to disk before the lock is
    released. Returns what was appended."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.ExitStack() as stack:
            stack.callback(fcntl.flock, fd, fcntl.LOCK_UN)
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            existing = b"".join(chunks).decode("utf-8").splitlines()
            lines = decide([line for line in existing if line.strip()])
            if lines:
                os.write(fd, "".join(line + "\n" for line in lines).encode("utf-8"))
                os.fsync(fd)
            return lines
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a file (none when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()]
