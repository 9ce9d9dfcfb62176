"""A pool of asyncpg connections for one statement at a time, in autocommit: the redemption's.

asyncpg's `Pool` serves any use of a connection (transactions, cursors, listeners, a
connection held across awaits), and pays for it on every call: `pool.fetchrow` wraps the
connection in a proxy, and gives it back through a shielded task (one more task and turn of
the event loop per call) that runs the release checks and the reset hook. A call that runs
one statement in autocommit and keeps nothing needs none of that, and on the redemption's hot
path it was about a twentieth of the voucher service's CPU per redemption (docs/performance.md,
"The hot path at a third of the limit").

Here a call takes a free connection (opening one while fewer than `size` are open, else
waiting its turn, first come first served), runs its statement and gives the connection
back. A statement that fails in the server (a unique violation, a check) leaves the
connection as good as before; anything else (the connection lost, the call cancelled midway)
closes it, and its place is opened afresh by the next call that needs it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg


class StatementPool:
    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        if size < 1:
            raise ValueError("a statement pool needs at least one connection")
        self._connect = connect
        self.size = size
        self._free: list[asyncpg.Connection] = []
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection]] = collections.deque()
        self._open = 0  # connections open or being opened
        self._closed = False
        self._opening: set[asyncio.Task[None]] = set()  # held until done (asyncio keeps weak refs)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """`query` with `args` on a connection of the pool: its first row, or None."""
        conn = self._free.pop() if self._free else await self._take()
        if conn.is_closed():  # lost while it was free (the server restarted, say)
            self._discard(conn)
            conn = await self._take()
        healthy = False
        try:
            row: asyncpg.Record | None = await conn.fetchrow(query, *args)
            healthy = True
            return row
        except asyncpg.PostgresError:
            healthy = True  # the server refused the statement; the connection is fine
            raise
        finally:
            if healthy:
                self._give(conn)
            else:
                self._discard(conn)

    async def _take(self) -> asyncpg.Connection:
        if self._closed:
            raise asyncpg.InterfaceError("the statement pool is closed")
        if self._open < self.size:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                self._wake_one()
                raise
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give(waiter.result())  # handed over just as the caller gave up
            raise

    def _give(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed():
            self._discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._free.append(conn)

    def _discard(self, conn: asyncpg.Connection) -> None:
        self._open -= 1
        if not conn.is_closed():
            conn.terminate()
        self._wake_one()

    def _wake_one(self) -> None:
        """A place came free: the first waiter, if any, opens a connection in it."""
        while self._waiters and not self._closed:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1
                task = asyncio.get_running_loop().create_task(self._open_for(waiter))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)
                return

    async def _open_for(self, waiter: asyncio.Future[asyncpg.Connection]) -> None:
        try:
            conn = await self._connect()
        except BaseException as exc:
            self._open -= 1
            if not waiter.done():
                waiter.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            return
        if waiter.done():
            self._give(conn)
        else:
            waiter.set_result(conn)

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the statement pool is closed"))
        self._waiters.clear()
        free, self._free = self._free, []
        for conn in free:
            self._open -= 1
            await conn.close()
