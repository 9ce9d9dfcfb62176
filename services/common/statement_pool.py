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

Calls that wait run together (`fetchrow_together`, group commit). Calls of a statement that
says how to run many at once (`Together`) queue instead of each taking a connection of its
own; a collector task takes the next connection free (at once, if one is) and runs up to
`max_calls` of the calls queued by then as one statement: one transaction, one commit, one
round trip. A call never waits for others to come. The collector starts on the event loop's
next turn, so the calls that arrive in the same turn (the requests read from one wake-up of
the loop) go together, and while every connection is busy all that arrive meanwhile do; a call
alone runs alone, as its own statement. Measured: 5.2-5.5 redemptions a commit at saturation,
where only the calls finding every connection busy went together gave 2.1-2.2
(docs/performance.md, "Redemptions committed together"). The statement that runs them
together is all or nothing: when it fails in the server (one call's
unique violation rolls back the others' work too), each of its calls then runs alone on the
same connection, and gets its own answer or its own error. Every call's answer is given only
once its transaction has committed. Through PgBouncer in transaction mode (a temporary
function does not outlive its transaction there) the pool runs every call alone.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

log = logging.getLogger("yiyang.statement_pool")

Args = tuple[Any, ...]
_Call = tuple[Args, "asyncio.Future[asyncpg.Record | None]"]  # a waiting call and its answer


@dataclass(frozen=True, eq=False)
class Together:
    """How calls of one statement run together. `solo` is the statement for one call. `call`
    runs many: each row is what `solo` answers followed by the 1-based number of the call it
    answers, and a call that gets no row gets None, as from `solo`. `pack` turns the calls,
    numbered, into `call`'s arguments, in the order the calls should run (a lock order, say).
    `setup` is run once on a connection before its first `call` (the temporary function that
    `call` invokes)."""

    solo: str
    call: str
    setup: str
    pack: Callable[[Sequence[tuple[int, Args]]], Args]
    max_calls: int = 16


class _Waiting:
    """The calls of one `Together` waiting for a connection, and the collectors that will
    run them (each takes up to `max_calls` when it gets its connection)."""

    __slots__ = ("calls", "collectors")

    def __init__(self) -> None:
        self.calls: collections.deque[_Call] = collections.deque()
        self.collectors = 0


class StatementPool:
    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        size: int,
        *,
        together: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError("a statement pool needs at least one connection")
        self._connect = connect
        self.size = size
        self.together = together
        self._waiting: dict[Together, _Waiting] = {}
        self._set_up: dict[int, set[Together]] = {}  # by id(connection)
        self._collecting: set[asyncio.Task[None]] = set()
        # How many calls ran together, in how many statements, and how many such statements
        # failed and had their calls run alone (for tests and measurements).
        self.calls_together = 0
        self.statements_together = 0
        self.statements_undone = 0
        self._free: list[asyncpg.Connection] = []
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection]] = collections.deque()
        self._open = 0  # connections open or being opened
        self._closed = False
        self._opening: set[asyncio.Task[None]] = set()  # held until done (asyncio keeps weak refs)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """`query` with `args` on a connection of the pool: its first row, or None."""
        conn = await self._acquire()
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

    async def fetchrow_together(self, together: Together, *args: Any) -> asyncpg.Record | None:
        """`together.solo` with `args`, together with the other calls waiting (the module's
        docstring)."""
        if not self.together:
            return await self.fetchrow(together.solo, *args)
        waiting = self._waiting.get(together)
        if waiting is None:
            waiting = self._waiting[together] = _Waiting()
        answer: asyncio.Future[asyncpg.Record | None] = asyncio.get_running_loop().create_future()
        waiting.calls.append((args, answer))
        if len(waiting.calls) > waiting.collectors * together.max_calls:
            waiting.collectors += 1
            task = asyncio.get_running_loop().create_task(self._collect(together, waiting))
            self._collecting.add(task)
            task.add_done_callback(self._collecting.discard)
        return await answer  # cancelled before its statement starts: left out of it

    async def _collect(self, together: Together, waiting: _Waiting) -> None:
        """Wait for a connection, then run up to `max_calls` of the waiting calls on it."""
        try:
            conn = await self._acquire()
        except BaseException as exc:
            waiting.collectors -= 1
            for _args, answer in _next_calls(waiting, together.max_calls):
                answer.set_exception(_as_exception(exc))
            return
        waiting.collectors -= 1
        calls = _next_calls(waiting, together.max_calls)
        healthy = False
        try:
            if len(calls) == 1:
                await _run_alone(conn, together.solo, calls)
            elif calls:
                await self._run_together(conn, together, calls)
            healthy = True
        except BaseException as exc:  # the connection lost, or the pool closed under it
            for _args, answer in calls:
                if not answer.done():
                    answer.set_exception(_as_exception(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            if healthy:
                self._give(conn)
            else:
                self._discard(conn)

    async def _run_together(
        self,
        conn: asyncpg.Connection,
        together: Together,
        calls: list[_Call],
    ) -> None:
        ready = self._set_up.setdefault(id(conn), set())
        if together not in ready:
            try:
                await conn.execute(together.setup)
            except asyncpg.PostgresError as exc:
                # A database that refuses the function (TEMP revoked from the role, say):
                # from now on every call runs alone, as through PgBouncer.
                log.warning("calls no longer run together: %s", exc.sqlstate)
                self.together = False
                await _run_alone(conn, together.solo, calls)
                return
            ready.add(together)
        try:
            rows = await conn.fetch(
                together.call, *together.pack([(n, args) for n, (args, _a) in enumerate(calls, 1)])
            )
        except asyncpg.PostgresError:
            # All or nothing: one call's failure undid the others' work. Each runs alone.
            self.statements_undone += 1
            await _run_alone(conn, together.solo, calls)
            return
        self.statements_together += 1
        self.calls_together += len(calls)
        answers: list[asyncpg.Record | None] = [None] * len(calls)
        for row in rows:
            answers[row[-1] - 1] = row
        for (_args, answer), row in zip(calls, answers, strict=True):
            if not answer.done():
                answer.set_result(row)

    async def _acquire(self) -> asyncpg.Connection:
        """A free connection, or the next one given back or opened."""
        conn = self._free.pop() if self._free else await self._take()
        if conn.is_closed():  # lost while it was free (the server restarted, say)
            self._discard(conn)
            conn = await self._take()
        return conn

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
        self._set_up.pop(id(conn), None)
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


def _next_calls(waiting: _Waiting, most: int) -> list[_Call]:
    """Up to `most` waiting calls whose callers still wait, oldest first."""
    calls: list[_Call] = []
    while waiting.calls and len(calls) < most:
        args, answer = waiting.calls.popleft()
        if not answer.done():
            calls.append((args, answer))
    return calls


async def _run_alone(
    conn: asyncpg.Connection,
    solo: str,
    calls: list[_Call],
) -> None:
    """Each call as its own statement, in turn; a refused one gets its error."""
    for args, answer in calls:
        try:
            row = await conn.fetchrow(solo, *args)
        except asyncpg.PostgresError as exc:
            if not answer.done():
                answer.set_exception(exc)
            continue
        if not answer.done():
            answer.set_result(row)


def _as_exception(exc: BaseException) -> Exception:
    if isinstance(exc, Exception):
        return exc
    stopped: Exception = asyncpg.InterfaceError("the statement pool stopped before the call ran")
    return stopped
