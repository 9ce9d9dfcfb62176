"""The voucher service app: `uvicorn services.voucher.main:app` or `create_app()` in tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.crypto import PiiCipher
from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.voucher.api import router
from services.voucher.clients import LedgerClient
from services.voucher.config import VoucherSettings, get_settings

log = logging.getLogger("yiyang.voucher")


def create_app(settings: VoucherSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def database() -> Database:
        url = await resolve_database_url("voucher", settings.database_url,
                                         get_common_settings().data_dir)
        return Database(url, pool_size=settings.pool_size, application_name="yiyang-voucher")

    async def start_programs_and_issuance(app: FastAPI) -> None:
        from services.voucher.service import programs
        from services.voucher.service.issuance import IssuanceEngine

        try:
            async with app.state.db.sessionmaker() as session, session.begin():
                created = await programs.ensure_defaults(session)
            if created:
                log.info("programs loaded from defaults: %s", ", ".join(created))
        except Exception as exc:  # noqa: BLE001 - an unmigrated database: /readyz says so
            log.error("programs not loaded (is the database migrated?): %s",
                      type(exc).__name__)
        common = get_common_settings()
        # Tests (and anything embedding the service) may inject the ledger's client.
        http = getattr(app.state, "ledger_client", None)
        if http is None:
            http = httpx.AsyncClient(base_url=settings.ledger_url or common.ledger_url)
            app.state.owned_ledger_client = http
        app.state.ledger = LedgerClient(http, common.auth_private_key,
                                        timeout_s=settings.ledger_timeout_s)
        app.state.issuance_engine = IssuanceEngine(app.state.db, app.state.ledger,
                                                   settings.issuance_chunk_size)
        if settings.expiry_interval_s > 0:
            app.state.expiry_task = asyncio.create_task(_expire_forever(app))

    async def stop(app: FastAPI) -> None:
        task = getattr(app.state, "expiry_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        owned = getattr(app.state, "owned_ledger_client", None)
        if owned is not None:
            await owned.aclose()

    async def _expire_forever(app: FastAPI) -> None:
        from services.voucher.service.issuance import expire_lapsed

        while True:
            await asyncio.sleep(settings.expiry_interval_s)
            try:
                result = await expire_lapsed(app.state.db)
                if result["expired"]:
                    log.info("vouchers lapsed: %d, released %d fen", result["expired"],
                             result["released_fen"])
            except Exception as exc:  # noqa: BLE001 - try again next time
                log.error("voucher lapse failed: %s", type(exc).__name__)

    app = create_service_app(
        name="voucher",
        title="Yiyang voucher service",
        description=__doc__ or "",
        database=database,
        routers=[router],
        on_startup=[start_programs_and_issuance],
        on_shutdown=[stop],
    )
    app.state.settings = settings
    app.state.pii_cipher = PiiCipher(settings.pii_encryption_key, settings.pii_hash_key)
    return app


app = create_app()
