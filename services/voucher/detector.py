"""The anomaly detector process (`yiyang detect`): the anomaly rules evaluated off the
redemption's hot path, in a process of its own (like the relay), so its queries never take
the voucher service's CPU or connections from a redemption.

Loop: poll the provider directory (places and regions of providers, as the voucher service
does), read the outbox's redemption events after the detector's cursor and raise alerts
(services/voucher/service/anomalies.py, docs/anomalies.md). One detector at a time holds the
cursor (its row lock); a second one waits. `--once` reads what is there and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

import httpx

from services.common.auth import service_token
from services.common.db import Database, resolve_database_url
from services.common.logs import configure_process_logging
from services.common.settings import get_common_settings
from services.common.shards import each_database, province_hooks
from services.voucher.service.anomalies import detect_forever, detect_once
from services.voucher.service.directory import ProviderDirectory

log = logging.getLogger("yiyang.detector")


async def _main(args: argparse.Namespace) -> int:
    from services.voucher.config import get_settings

    settings = get_settings()
    common = get_common_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def single_url() -> str:
        return args.database_url or await resolve_database_url(
            "voucher", settings.database_url, common.data_dir
        )

    async def detect(_province: str | None, url: str) -> None:
        await _detect(args, url, stop)

    # Sharded (docs/shards.md): one detector per province, with that province's directory.
    await each_database("" if args.database_url else settings.shards, single_url, detect)
    return 0


async def _detect(args: argparse.Namespace, url: str, stop: asyncio.Event) -> None:
    from services.voucher.config import get_settings

    settings = get_settings()
    common = get_common_settings()
    db = Database(url, pool_size=2, application_name="yiyang-detector")
    directory = ProviderDirectory()
    key = common.auth_private_key
    base = args.provider_url or settings.provider_url or common.provider_url
    try:
        async with httpx.AsyncClient(
            base_url=base, timeout=5.0, event_hooks=province_hooks()
        ) as client:
            poll = asyncio.create_task(
                directory.run(
                    client, lambda: service_token(key, "voucher-detector", ttl_s=600), 1.0
                ),
                name="detector-directory",
            )
            with contextlib.suppress(TimeoutError):
                # Without the directory the place and region of a provider are unknown:
                # wait for it a while, then run anyway (rules needing it stay quiet).
                await asyncio.wait_for(directory.loaded.wait(), args.directory_wait)
            try:
                if args.once:
                    while True:
                        async with db.unit_of_work() as session:
                            done = await detect_once(
                                session, directory, batch_size=args.batch_size, settle_s=0
                            )
                        if done.cursor == done.start:
                            break
                else:
                    log.info("detector started (every %.1f s)", args.interval)
                    task = asyncio.create_task(
                        detect_forever(
                            db,
                            directory,
                            interval_s=args.interval,
                            settle_s=settings.anomaly_settle_s,
                            batch_size=args.batch_size,
                        )
                    )
                    await stop.wait()
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            finally:
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
    finally:
        await db.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiyang detect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", help="the voucher database (default: settings)")
    parser.add_argument("--provider-url", help="the provider service (default: settings)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    parser.add_argument("--batch-size", type=int, default=500, help="events read per pass")
    parser.add_argument("--once", action="store_true", help="read what is there and stop")
    parser.add_argument(
        "--directory-wait",
        type=float,
        default=30.0,
        help="seconds to wait for the provider directory before the first pass",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_process_logging()
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
