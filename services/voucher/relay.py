"""The outbox relay: delivers the voucher service's events to the ledger (`yiyang relay`).

Partitioned: every event carries its ledger book (`outbox.book`, the city-level prefix of its
budget region), and several relay workers (processes, each `yiyang relay`) share the
partitions. Each partition has one owner at a time, a lease row in `relay_lease` that the
owner renews every round (`--lease-s`); the partitions with work are shared out fairly among
the live workers, and a worker that dies (SIGKILL, a lost machine) loses its partitions when
their leases expire: the others take them over.

Loop: share the partitions (`repository.redemption.share_partitions`), then for each owned
partition in turn, in one short transaction: lock the worker's lease row (the partition's
turn: a void never overtakes its redemption, as events of one partition go in outbox order),
lock its oldest undelivered events (up to `--batch-size`), POST them to the ledger's
`/v1/events` (one book a call: the ledger locks that book only), and mark each one delivered
(`applied` / `duplicate`) or rejected as the ledger answered, then commit. An event is marked
only after the ledger answered, so a crash of a relay, the ledger or the database at any
moment means a redelivery, never a loss; the ledger applies each `event_id` once, so the
redelivery is harmless. Errors back off exponentially (up to 10 s). Progress is logged; the
lag is at GET /v1/outbox/lag and /readyz.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import asyncpg
import httpx
import orjson

from services.common.auth import service_token
from services.common.db import asyncpg_connect_kwargs, resolve_database_url
from services.common.logs import configure_process_logging
from services.common.settings import get_common_settings
from services.common.shards import each_database, province_hooks
from services.voucher.repository import redemption as repo
from services.voucher.repository.redemption import OutboxEvent

log = logging.getLogger("yiyang.relay")

# The ledger's per-event posting, not the call, is the relay's cost: 2,000 a call drained no
# faster than 500 (docs/performance.md, "Relay"). The ledger takes at most LEDGER_MAX_BATCH.
DEFAULT_BATCH = 500
LEDGER_MAX_BATCH = 5000
# What a relay started with `--start-at` logs once it is ready (the bench waits for it).
READY_LINE = "ready; delivering at"
# A partition's lease lasts this long unless renewed (every round of a live worker).
DEFAULT_LEASE_S = 10.0
# How often a worker re-shares the partitions while it has work (it does so every idle round).
SHARE_EVERY_S = 1.0


def default_worker_id() -> str:
    """One worker a process: relays created in one process share their leases (and take
    turns on each partition by its lease row's lock)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LedgerUnavailable(Exception):
    pass


class EventResult(TypedDict):
    """The ledger's answer for one event of a batch (`POST /v1/events`)."""

    event_id: str
    status: str  # applied, duplicate or rejected
    error: NotRequired[dict[str, Any]]


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: httpx.AsyncClient,
        *,
        batch_size: int = DEFAULT_BATCH,
        worker_id: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.pool = pool
        self.client = client
        if not 1 <= batch_size <= LEDGER_MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{LEDGER_MAX_BATCH} (the ledger's limit)")
        self.batch_size = batch_size
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = lease_s
        self.partitions: list[str] = []
        self._next = 0
        self._shared_at = -1e9
        self.delivered = 0
        self.rejected = 0
        self._key = get_common_settings().auth_private_key
        self._token: tuple[float, str] | None = None
        self._headers_now: dict[str, str] = {}
        self._reported: tuple[int, int, int] | None = None

    def _headers(self) -> dict[str, str]:
        """The call's headers: a service token, signed again every 5 minutes (it lasts 15)."""
        now = time.monotonic()
        if self._token is None or now - self._token[0] > 300:
            token = service_token(self._key, "voucher-relay", ttl_s=900)
            self._token = (now, token)
            self._headers_now = {
                "Authorization": f"Bearer {token}",
                "content-type": "application/json",
            }
        return self._headers_now

    async def _post(self, rows: Sequence[OutboxEvent]) -> list[EventResult] | None:
        """The ledger's results for `rows`, or None when it refused the request as a whole
        with a 4xx (a malformed event): the caller then sends them one by one."""
        try:
            response = await self.client.post(
                "/v1/events", content=_batch_body(rows), headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise LedgerUnavailable(type(exc).__name__) from exc
        if response.status_code == 200:
            results: list[EventResult] = orjson.loads(response.content)["results"]
            return results
        if response.status_code in (400, 413, 422):
            return None
        raise LedgerUnavailable(f"HTTP {response.status_code}")

    async def share(self) -> list[str]:
        """Renew this worker's leases and take its fair share of the partitions with work."""
        async with self.pool.acquire() as conn:
            self.partitions = await repo.share_partitions(
                conn, self.worker_id, self.lease_s, self.partitions
            )
        self._shared_at = time.monotonic()
        return self.partitions

    async def deliver_once(self) -> int:
        """Deliver one batch of one owned partition (in turn); the number of events settled
        (0 = nothing to do in any of them). Re-shares the partitions first when due."""
        if time.monotonic() - self._shared_at >= min(SHARE_EVERY_S, self.lease_s / 3):
            await self.share()
        for _ in range(len(self.partitions)):
            partition = self.partitions[self._next % len(self.partitions)]
            self._next += 1
            n = await self.deliver_partition(partition)
            if n:
                return n
        self._shared_at = -1e9  # nothing to do here: look for work again next round
        return 0

    async def deliver_round(self) -> bool:
        """One batch of every owned partition (re-sharing first when due); True when some
        batch was full (more is waiting: go on without idling)."""
        if time.monotonic() - self._shared_at >= min(SHARE_EVERY_S, self.lease_s / 3):
            await self.share()
        full = False
        for partition in list(self.partitions):
            full |= await self.deliver_partition(partition) >= self.batch_size
        return full

    async def deliver_partition(self, partition: str) -> int:
        """Deliver one batch of `partition` if this worker still holds it."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repo.lock_batch(conn, partition, self.worker_id, self.batch_size)
            if rows is None:  # the lease moved to another worker
                self.partitions = [p for p in self.partitions if p != partition]
                return 0
            if not rows:
                return 0
            results = await self._post(rows)
            outcome: dict[str, EventResult] = {}
            if results is None:
                for row in rows:  # find the one the ledger cannot read
                    single = await self._post([row])
                    if single is None:
                        outcome[row["event_id"]] = EventResult(
                            event_id=row["event_id"],
                            status="rejected",
                            error={
                                "code": "MALFORMED_EVENT",
                                "message": "the ledger refused the event's shape",
                            },
                        )
                    else:
                        outcome.update({r["event_id"]: r for r in single})
            else:
                outcome = {r["event_id"]: r for r in results}
            done: list[int] = []
            rejected: list[tuple[int, str]] = []
            for row in rows:
                # (event ids are the outbox's uuid::text, the ledger's own spelling of them)
                result = outcome.get(row["event_id"])
                if result is None:
                    continue  # not answered: stays undelivered, sent again next time
                status = result.get("status")
                if status == "applied" or status == "duplicate":
                    done.append(row["id"])
                elif status == "rejected":
                    err = result.get("error") or {}
                    rejected.append((row["id"], f"{err.get('code')}: {err.get('message')}"))
            await repo.mark_delivered(conn, done)
            await repo.mark_rejected(conn, rejected)
        self.delivered += len(done)
        self.rejected += len(rejected)
        if rejected:
            log.warning("ledger rejected %d event(s), e.g. %s", len(rejected), rejected[0][1])
        return len(done) + len(rejected)

    async def _report(self) -> None:
        """Progress in the log, only when something moved since the last line (an idle
        relay stays quiet)."""
        try:
            lag = await repo.progress(self.pool)
        except (OSError, asyncpg.PostgresError):
            return
        state = (self.delivered, self.rejected, lag.undelivered)
        if state == self._reported:
            return
        self._reported = state
        log.info(
            "delivered %d, rejected %d; undelivered %s%d, oldest %.1f s",
            self.delivered,
            self.rejected,
            "at least " if lag.at_least else "",
            lag.undelivered,
            lag.oldest_age_s,
        )

    async def run(
        self, *, idle_s: float = 0.2, stop: asyncio.Event | None = None, progress_s: float = 5.0
    ) -> None:
        stop = stop or asyncio.Event()
        backoff = 0.0
        last_report = time.monotonic()
        while not stop.is_set():
            try:
                more = await self.deliver_round()
                if backoff:
                    log.info("ledger reachable again")
                backoff = 0.0
            except (
                LedgerUnavailable,
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
            ) as exc:
                backoff = min(10.0, max(0.1, backoff * 2))
                log.warning("delivery failed (%s); retrying in %.1f s", exc, backoff)
                await _wait(stop, backoff)
                continue
            if time.monotonic() - last_report >= progress_s:
                last_report = time.monotonic()
                await self._report()
            if not more:
                await _wait(stop, idle_s)


def _batch_body(rows: Sequence[OutboxEvent]) -> bytes:
    """`{"events": [...]}` for the ledger, by one orjson call. Each payload is the outbox's
    own JSON text (jsonb::text), spliced in as it is (`orjson.Fragment`) rather than parsed
    and serialised again; `occurred_at` is written by orjson, the same text as
    `isoformat()` (a test compares them byte for byte)."""
    return orjson.dumps(
        {
            "events": [
                {
                    "event_id": r["event_id"],
                    "type": r["type"],
                    "occurred_at": r["occurred_at"],
                    "payload": orjson.Fragment(r["payload"]),
                }
                for r in rows
            ]
        }
    )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _main(args: argparse.Namespace) -> int:
    from services.voucher.config import get_settings

    common = get_common_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def single_url() -> str:
        return args.database_url or await resolve_database_url(
            "voucher", get_settings().database_url, common.data_dir
        )

    async with httpx.AsyncClient(
        base_url=args.ledger_url or common.ledger_url,
        timeout=args.timeout,
        event_hooks=province_hooks(),
    ) as client:

        async def relay_province(province: str | None, url: str) -> None:
            await _relay(args, client, url, province, stop)

        # Sharded (docs/shards.md): one relay per province, each delivering its province's
        # outbox to the same province's ledger (the province header of `province_hooks`).
        shards = "" if args.database_url else get_settings().shards
        await each_database(shards, single_url, relay_province)
    return 0


async def _relay(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    url: str,
    province: str | None,
    stop: asyncio.Event,
) -> None:
    pool = await asyncpg.create_pool(
        **asyncpg_connect_kwargs(url),
        min_size=1,
        max_size=2,
        server_settings={"application_name": "yiyang-relay"},
    )
    try:
        relay = Relay(
            pool,
            client,
            batch_size=args.batch_size,
            worker_id=args.worker_id,
            lease_s=args.lease_s,
        )
        log.info(
            "relay worker %s started%s (batch %d, lease %.1f s)",
            relay.worker_id,
            f" for province {province}" if province else "",
            args.batch_size,
            args.lease_s,
        )
        if args.start_at is not None:
            # Started ahead of time (benchmarks): imported, connected, its token signed and
            # its HTTP client's lazy imports done (a first call), it is ready; it delivers
            # nothing before the instant.
            relay._headers()
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/healthz")
            log.info("relay worker %s %s %.3f", relay.worker_id, READY_LINE, args.start_at)
            await _wait(stop, args.start_at - time.time())
            if stop.is_set():
                return
        if args.once:
            while await relay.deliver_once():
                pass
        else:
            await relay.run(idle_s=args.idle, stop=stop)
    finally:
        await pool.close()


def _batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= LEDGER_MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be 1..{LEDGER_MAX_BATCH} (the ledger's limit)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiyang relay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", help="the voucher database (default: settings)")
    parser.add_argument("--ledger-url", help="the ledger (default: YIYANG_LEDGER_URL)")
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH,
        help=f"events per ledger call, 1..{LEDGER_MAX_BATCH}",
    )
    parser.add_argument("--idle", type=float, default=0.2, help="seconds between empty polls")
    parser.add_argument("--worker-id", help="this worker's name in relay_lease (default: host:pid)")
    parser.add_argument(
        "--lease-s",
        type=float,
        default=DEFAULT_LEASE_S,
        help="seconds a partition stays this worker's without renewal (a dead worker's "
        "partitions move after this)",
    )
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--once", action="store_true", help="deliver what is there and stop")
    parser.add_argument(
        "--start-at",
        type=float,
        metavar="EPOCH_SECONDS",
        help="start up, connect and log 'ready', then deliver nothing until this wall-clock "
        "instant (seconds since the epoch): a benchmark starts its relays ahead of time and "
        "meters the drain from the instant, without their start-up",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_process_logging()
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
