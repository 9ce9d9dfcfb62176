"""The scheduler: each program's period issued by itself, and vouchers lapsed (`yiyang scheduler`).

Runs the loop of `services/voucher/service/scheduler.py` every `--interval` seconds (default
`YIYANG_VOUCHER_SCHEDULER_INTERVAL_S`), or one tick with `--once` (what the systemd timer and
the Kubernetes CronJob start). Any number may run at once: a slot (program, period, region)
is claimed by one of them, and a run killed midway is resumed by the next claim after its
lease lapses (`YIYANG_VOUCHER_SCHEDULER_LEASE_S`). `yiyang up` starts one and restarts it if
it dies.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import httpx

from services.common.db import Database, resolve_database_url
from services.common.logs import configure_process_logging
from services.common.settings import get_common_settings
from services.common.shards import each_database, province_code, province_hooks
from services.voucher.clients import LedgerClient
from services.voucher.config import get_settings
from services.voucher.service.issuance import IssuanceEngine
from services.voucher.service.scheduler import Scheduler

log = logging.getLogger("yiyang.voucher.scheduler")


async def _main(args: argparse.Namespace) -> int:
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

    async def schedule(province: str | None, url: str) -> int:
        return await _schedule_province(args, url, province, stop)

    # Sharded (docs/shards.md): one scheduler per province, on its database and its ledger.
    shards = "" if args.database_url else settings.shards
    return max(await each_database(shards, single_url, schedule))


async def _schedule_province(
    args: argparse.Namespace, url: str, province: str | None, stop: asyncio.Event
) -> int:
    settings = get_settings()
    common = get_common_settings()
    db = Database(url, pool_size=2, application_name="yiyang-scheduler")
    await db.start()
    try:
        async with httpx.AsyncClient(
            base_url=args.ledger_url or settings.ledger_url or common.ledger_url,
            event_hooks=province_hooks(),
        ) as http:
            ledger = LedgerClient(
                http, common.auth_private_key, timeout_s=settings.ledger_timeout_s
            )
            engine = IssuanceEngine(
                db,
                ledger,
                settings.issuance_chunk_size,
                lease_s=settings.issuance_lease_s,
                wait_s=settings.issuance_wait_s,
            )
            scheduler = Scheduler(
                db,
                engine,
                province_code=province_code(),
                lease_s=settings.scheduler_lease_s,
                retry_s=settings.scheduler_retry_s,
                max_attempts=settings.scheduler_max_attempts,
            )
            if args.once:
                result = await scheduler.tick()
                failed = [o for o in result.outcomes if o.status == "failed"]
                log.info(
                    "tick%s: %d planned, %d runs (%d failed), %d vouchers lapsed",
                    f" (province {province})" if province else "",
                    result.planned,
                    len(result.outcomes),
                    len(failed),
                    result.expired,
                )
                return 1 if failed else 0
            await scheduler.run_forever(stop, args.interval or settings.scheduler_interval_s)
    finally:
        await db.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiyang scheduler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", help="the voucher database (default: settings)")
    parser.add_argument("--ledger-url", help="the ledger (default: YIYANG_LEDGER_URL)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between ticks")
    parser.add_argument("--once", action="store_true", help="one tick, then stop")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_process_logging()
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
